"""The pod list's first render in headless Debian Chromium: 30,000 pods against a 12-pod
cluster in the same run, both timed in the page.

Why: the explorer promises first rows under 2 s at 30,000 pods (a small first page, a
virtualised table). The 12-pod cluster is the floor — the same page, server and browser with
almost nothing to list — so the table shows what the fleet's size adds, on this host, now.

Setup: for each size the real console against ``tests.console.fakeapi`` (no kube-apiserver
exists here) populated with that many pods, its list+watch cache synced; one Chromium, one
signed-in page per size; ``--runs`` fresh navigations per size, alternating sizes. Each run
reads the page's ``performance.now()`` clock at the ``temper:first-rows`` mark (ms from
navigation start to the first rows painted), see ``tests/console/browser/first_render.py``.

Run: ``nice -n 19 python benchmarks/console_first_render.py [--pods 30000] [--runs 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.console.browser.chromium import launched  # after the path insert
from tests.console.browser.first_render import console_with_pods, first_rows_ms

TARGET_MS = 2000.0
FLOOR_PODS = 12


async def main(pods: int, nodes: int, runs: int) -> None:
    sizes = [FLOOR_PODS, pods]
    async with AsyncExitStack() as stack:
        urls = {n: await stack.enter_async_context(console_with_pods(n, nodes=min(nodes, n))) for n in sizes}
        browser = await stack.enter_async_context(launched())
        pages = {n: await (await browser.new_context()).new_page() for n in sizes}
        times: dict[int, list[float]] = {n: [] for n in sizes}
        dom: dict[int, int] = {}
        for _ in range(runs):
            for n in sizes:
                render = await first_rows_ms(pages[n], urls[n])
                times[n].append(render.ms)
                dom[n] = render.rows_in_dom
    print(f"first rows painted, ms from navigation start ({runs} runs each)")
    print(f"{'pods':>8} {'median':>8} {'min':>8} {'max':>8} {'rows in DOM':>12}")
    for n in sizes:
        t = times[n]
        print(f"{n:>8} {statistics.median(t):>8.0f} {min(t):>8.0f} {max(t):>8.0f} {dom[n]:>12}")
    added = statistics.median(times[pods]) - statistics.median(times[FLOOR_PODS])
    verdict = "met" if statistics.median(times[pods]) < TARGET_MS else "NOT met"
    print(f"{pods} pods add {added:+.0f} ms over the {FLOOR_PODS}-pod floor; target < {TARGET_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=30_000)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.pods, args.nodes, args.runs))

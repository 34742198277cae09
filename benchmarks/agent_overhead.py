"""The node agent's own CPU cost in steady state, as % of one core.

Setup: generated sysfs (8 CPUs) and a cgroup v2 tree with 110 pod cgroups (kubelet systemd
layout, all QoS classes), a pods file with the same 110 pods. A writer thread in *this*
process rewrites every pod's ``cpu.stat`` once a second (so usage deltas are real work for the
agent, while the writer's CPU is not charged to the agent).

Arms, each a separate child process measured over the same period, at the default scan
interval (2 s), with /metrics and /observe each scraped every 15 s (Prometheus' default):
  baseline  an idle asyncio loop that wakes every 2 s and serves the same two URLs with an
            empty aiohttp app (interpreter + event loop + HTTP server floor);
  agent-0   ``temper agent serve --observe-only`` with no pods;
  agent-110 ``temper agent serve --observe-only`` observing 110 pods;
  threads   the same with ``--threads`` real threads (default 1,000, held by a child process,
            listed in the pods' container ``cgroup.threads``; the agent reads the host's /proc),
            with per-thread telemetry on and with ``--no-threads``.
CPU time is the sum over the child's threads of ``/proc/PID/task/*/schedstat`` (ns on CPU),
sampled after a warm-up. Run: ``python benchmarks/agent_overhead.py [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temper.pods import QosClass  # noqa: E402
from tests.core.factories import container, pod  # noqa: E402
from tests.nodeagent.trees import write_pod_cgroup, write_sysfs, write_usage  # noqa: E402

TIERS = ("critical", "high", "normal", "low", "background")
HOLDER = r"""
import sys, threading, time
gate = threading.Event()
threads = [threading.Thread(target=gate.wait, daemon=True) for _ in range(int(sys.argv[1]))]
for t in threads:
    t.start()
print(" ".join(str(t.native_id) for t in threads), flush=True)
time.sleep(10**6)
"""
BASELINE = r"""
import asyncio, sys
from aiohttp import web
async def ok(request):
    return web.Response(text="ok")
async def main():
    app = web.Application()
    app.router.add_get("/metrics", ok); app.router.add_get("/observe", ok)
    runner = web.AppRunner(app); await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0); await site.start()
    print("listening on http://127.0.0.1:%d" % runner.addresses[0][1], file=sys.stderr, flush=True)
    while True:
        await asyncio.sleep(2.0)
asyncio.run(main())
"""


def cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def build(root: Path, count: int) -> tuple[Path, Path, Path, list[Path]]:
    sysfs, cgroups = root / "sys-root", root / "cgroup"
    write_sysfs(sysfs, nr_cpus=8, threads_per_core=2)
    cgroups.mkdir()
    items, dirs = [], []
    qos = list(QosClass)
    for i in range(count):
        uid = str(uuid.uuid4())
        items.append(pod(f"p{i}", uid=uid, priority_class=f"infera-{TIERS[i % 5]}",
                         containers=[container(cpu_request="50m")]))
        dirs.append(write_pod_cgroup(cgroups, uid, qos[i % 3], usage_usec=1000 * i))
    pods_file = root / "pods.json"
    pods_file.write_text(json.dumps({"kind": "List", "items": items}))
    return sysfs, cgroups, pods_file, dirs


def start(command: list[str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    handle = log.open("w+")
    process = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        handle.seek(0)
        found = re.findall(r"listening on (http://127\.0\.0\.1:\d+)", handle.read())
        if found:
            return process, found[0]
        if process.poll() is not None:
            break
        time.sleep(0.1)
    handle.seek(0)
    raise RuntimeError(f"child did not start: {handle.read()[-2000:]}")


def measure(process: subprocess.Popen[bytes], base: str, seconds: float, warmup: float,
            scrape_every: float) -> tuple[float, int]:
    time.sleep(warmup)
    scrapes = 0
    before = cpu_ns(process.pid)
    start_t = time.monotonic()
    next_scrape = start_t
    while (now := time.monotonic()) - start_t < seconds:
        if now >= next_scrape:
            for path in ("/metrics", "/observe"):
                with urllib.request.urlopen(base + path, timeout=5) as response:
                    response.read()
                scrapes += 1
            next_scrape += scrape_every
        time.sleep(0.2)
    elapsed = time.monotonic() - start_t
    return (cpu_ns(process.pid) - before) / 1e9 / elapsed * 100.0, scrapes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--scrape-every", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=1000, help="real threads spread over the pods (0: no arm)")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        sysfs, cgroups, pods_file, dirs = build(root, args.pods)
        empty = root / "empty.json"
        empty.write_text('{"kind": "List", "items": []}')
        stop = threading.Event()

        def writer() -> None:
            usage = 0
            while not stop.wait(1.0):
                usage += 20_000
                for i, directory in enumerate(dirs):
                    write_usage(directory, usage + 1000 * i)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        agent = [sys.executable, "-m", "temper.cli", "agent", "serve", "--observe-only", "--listen", "127.0.0.1:0",
                 "--sysfs-root", str(sysfs), "--cgroup-root", str(cgroups), "--node-name", "node-a",
                 "--log-level", "WARNING"]
        arms = [
            ("baseline: idle asyncio + aiohttp", [sys.executable, "-c", BASELINE]),
            ("agent, 0 pods", [*agent, "--pods-file", str(empty)]),
            (f"agent, {args.pods} pods", [*agent, "--pods-file", str(pods_file)]),
        ]
        holder = None
        if args.threads:
            arms += [(f"agent, {args.pods} pods, {args.threads} threads", [*agent, "--pods-file", str(pods_file)]),
                     (f"agent, {args.pods} pods, {args.threads} threads, --no-threads",
                      [*agent, "--pods-file", str(pods_file), "--no-threads"])]
        results: list[tuple[str, float, int]] = []
        try:
            for name, command in arms:
                if "threads" in name and holder is None:  # the thread arms come last: list them now
                    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(args.threads)], stdout=subprocess.PIPE)
                    assert holder.stdout is not None
                    tids = [int(t) for t in holder.stdout.readline().split()]
                    for i, directory in enumerate(dirs):  # each pod's container cgroup lists its share
                        (directory / "cri-containerd-0123abcd.scope" / "cgroup.threads").write_text(
                            "".join(f"{t}\n" for t in tids[i::len(dirs)]))
                    shutil.rmtree(sysfs / "proc")  # the agent reads /proc under --sysfs-root: the host's now
                    (sysfs / "proc").symlink_to("/proc")
                if "agent" in name:
                    command = [*command]
                    # The agent logs its address at INFO; keep that one line visible.
                    command[command.index("WARNING")] = "INFO"
                process, base = start(command, root / f"{len(results)}.log")
                try:
                    pct, scrapes = measure(process, base, args.seconds, args.warmup, args.scrape_every)
                finally:
                    process.terminate()
                    process.wait(timeout=10)
                results.append((name, pct, scrapes))
        finally:
            stop.set()
            thread.join()
            if holder is not None:
                holder.kill()
                holder.wait()
    baseline = results[0][1]
    print(f"scan interval 2.0 s (default); {args.seconds:.0f} s per arm after {args.warmup:.0f} s warm-up; "
          f"/metrics + /observe scraped every {args.scrape_every:.0f} s; {os.cpu_count()} host CPUs (shared)")
    print(f"{'arm':<52}{'CPU % of one core':>18}{'minus baseline':>16}{'scrapes':>9}")
    for name, pct, scrapes in results:
        print(f"{name:<52}{pct:>18.3f}{pct - baseline:>16.3f}{scrapes:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

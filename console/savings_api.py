"""The savings routes and their state: the price book file, the node baseline file, usage samples.

Why it exists: the thin adapter around ``console.savings`` (pure). Handlers decode the query,
gather facts from the cache, call ``pool_millis`` + ``savings``, encode. State with a lifetime
(the usage sampler) is a ``cleanup_ctx``.

- Prices: ``--prices FILE`` — the price-book ConfigMap mounted as a volume (the kubelet swaps
  the file in place when the ConfigMap changes). Re-read when its (mtime, size) changes; a bad
  edit keeps the last good book and the response carries ``prices_error``. No file: an empty
  book, so every type is listed as unpriced.
- Baseline: ``{data dir}/savings-baseline.json`` (the console's PVC), written atomically
  (temp file + ``os.replace``) by ``POST .../savings/baseline`` (admin): the fleet as it is now,
  or the pools given in the body (the fleet before Temper). Without a data dir it lives in
  memory only, and says so in the log at start. Recording is a mutation like any other: it goes
  through ``console.actions.audited``, so it writes exactly one audit record (``allowed``, or
  ``failed`` on a bad body or a refused write; a caller below admin gets ``denied`` from
  ``console.auth``), with the previous baseline in ``previous``. The reads use
  ``console.actions.read`` (same cluster check and error shape as every other route).
- Usage: ``console.usage`` samples the agents when ``--agent-url`` is given, through the
  console's one ``console.agents.AgentClient`` (``Plane.agents``): the same locator (agent pod
  IP, else InternalIP) and /observe cache as the explorer and the trace actions.
- A report walks every pod, so it is reused for ``cache_seconds`` (2 s) per window; recording
  a baseline drops the reused reports.

Routes (in ``console.openapi.ROUTES``): ``GET /api/v1/clusters/{c}/savings?window=`` (viewer),
``GET|POST /api/v1/clusters/{c}/savings/baseline`` (viewer | admin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from console import models as m
from console.actions import ActionError, Build, audited, body_of, encode, read
from console.app import NODES, PODS, SETTINGS
from console.audit import Entry
from console.plane import PLANE, Plane
from console.pricing import PriceBook, PriceError, parse_price_book
from console.savings import WINDOWS, BaselinePool, Pool, SavingsConfig, pool_millis, savings
from console.usage import UsageHistory, sample_forever

log = logging.getLogger(__name__)
BASELINE_FILE = "savings-baseline.json"


class PriceSource:
    """The price book, re-read when its file changes; the last good one on a bad edit."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.book = PriceBook()
        self.problem: str | None = None
        self._seen: tuple[int, int] | None = None

    def current(self) -> PriceBook:
        if not self.path:
            return self.book
        try:
            stat = os.stat(self.path)
            if (stat.st_mtime_ns, stat.st_size) != self._seen:
                self._seen = (stat.st_mtime_ns, stat.st_size)
                self.book, self.problem = parse_price_book(Path(self.path).read_text(encoding="utf-8")), None
        except (OSError, UnicodeDecodeError) as exc:
            self.problem = f"{self.path}: {exc.__class__.__name__}"
        except PriceError as exc:
            self.problem = f"{self.path}: {exc}"
        return self.book


class BaselineStore:
    """The recorded baseline, in ``{data_dir}/savings-baseline.json`` (memory when no dir)."""

    def __init__(self, data_dir: str) -> None:
        self.path = Path(data_dir) / BASELINE_FILE if data_dir else None
        self.value: m.Baseline | None = None
        if self.path is not None and self.path.exists():
            try:
                self.value = m.Baseline.model_validate_json(self.path.read_bytes())
            except (OSError, ValidationError) as exc:
                log.error("savings baseline %s unreadable (%s); none in use until one is recorded",
                          self.path, exc.__class__.__name__)

    def record(self, baseline: m.Baseline) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text(baseline.model_dump_json(), encoding="utf-8")
            os.replace(scratch, self.path)
        self.value = baseline

    def pools(self) -> list[BaselinePool]:
        if self.value is None:
            return []
        return [BaselinePool((p.instance_type, p.capacity_type, p.region), p.nodes, p.capacity_m)
                for p in self.value.pools]


@dataclass
class SavingsState:
    config: SavingsConfig
    prices: PriceSource
    baseline: BaselineStore
    usage: UsageHistory = field(default_factory=UsageHistory)
    reports: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    """window -> (monotonic time, encoded report): reused for ``config.cache_seconds``."""


STATE = web.AppKey("savings", SavingsState)


# Plain tuples in NodeFacts / PodFacts field order (a NamedTuple costs ~8x a tuple to build, which
# shows at 30,000 pods); ``type(x) is``, not isinstance: pydantic's metaclass makes that slow.
def _node_facts(nodes: Iterable[object]) -> list[tuple[str, Pool, int]]:
    return [(n.name, (n.instance_type or "", n.capacity_type, n.region), n.capacity_m or 0)
            for n in nodes if type(n) is m.NodeSummary]


def _pod_facts(pods: Iterable[object], recommended: dict[str, int]) -> list[tuple[str, int, int | None, int | None]]:
    return [(p.node, p.request_m, p.original_request_m, recommended.get(f"{p.namespace}/{p.name}") if recommended
             else None) for p in pods if type(p) is m.PodSummary and p.phase not in ("Succeeded", "Failed")]


async def get_savings(request: web.Request, _: Plane) -> web.Response:
    window = request.query.get("window", "month")
    if window not in WINDOWS:
        raise ActionError(400, "bad-window", f"window must be one of {', '.join(WINDOWS)}")
    state = request.app[STATE]
    cached = state.reports.get(window)
    now = time.monotonic()
    if cached is not None and now - cached[0] < state.config.cache_seconds:
        return web.Response(body=cached[1], content_type="application/json")
    book = state.prices.current()
    recommended = state.usage.recommended
    pods = _pod_facts(request.app[PODS].items.values(), recommended)
    pools = pool_millis(_node_facts(request.app[NODES].items.values()), pods, state.baseline.pools())
    result = savings(pools, book, WINDOWS[window], window)
    result.baseline_recorded = state.baseline.value.recorded if state.baseline.value else None
    result.pods_with_recommendation = sum(1 for p in pods if p[3] is not None)
    result.prices_error = state.prices.problem
    body = result.model_dump_json().encode()
    state.reports[window] = (now, body)
    return web.Response(body=body, content_type="application/json")


def fleet_baseline(nodes: Iterable[object], now: float) -> m.Baseline:
    """Pure: the current fleet as a baseline (one pool per instance type, capacity type, region)."""
    pools: dict[tuple[str, str, str], tuple[int, int]] = {}
    for _, pool, node_m in _node_facts(nodes):
        count, milli = pools.get(pool, (0, 0))
        pools[pool] = (count + 1, milli + node_m)
    return m.Baseline(recorded=now, pools=[
        m.BaselinePool(instance_type=k[0], capacity_type=k[1], region=k[2], nodes=v[0], capacity_m=v[1])
        for k, v in sorted(pools.items())])


async def get_baseline(request: web.Request, _: Plane) -> web.Response:
    value = request.app[STATE].baseline.value
    if value is None:
        raise ActionError(404, "no-baseline", "no baseline recorded yet (POST one, role admin)")
    return encode(value)


async def record_baseline(request: web.Request, _: Plane, entry: Entry) -> Build:
    """The audited mutation: the body's pools (or the fleet now) become the baseline."""
    body = await body_of(request, m.BaselineRequest)
    state = request.app[STATE]
    entry.parameters = body.model_dump()
    entry.previous = state.baseline.value.model_dump() if state.baseline.value is not None else None
    now = time.time()
    baseline = (m.Baseline(recorded=now, pools=body.pools) if body.pools is not None
                else fleet_baseline(request.app[NODES].items.values(), now))
    try:
        state.baseline.record(baseline)
    except OSError as exc:
        raise ActionError(503, "baseline-not-stored", f"the data dir refused the write: {exc.strerror}") from None
    finally:
        state.reports.clear()
    entry.detail = f"{len(baseline.pools)} pools, {sum(p.nodes for p in baseline.pools)} nodes"
    return lambda audit_id: baseline.model_copy(update={"audit_id": audit_id})


ROUTE_HANDLERS: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    ("get", "/api/v1/clusters/{c}/savings"): read(get_savings),
    ("get", "/api/v1/clusters/{c}/savings/baseline"): read(get_baseline),
    ("post", "/api/v1/clusters/{c}/savings/baseline"): audited(record_baseline),
}


def install(app: web.Application) -> None:
    """State and the sampler's lifetime; the routes are registered from ``ROUTES`` by the app."""
    config = app[SETTINGS].savings
    app[STATE] = SavingsState(config, PriceSource(config.prices_file), BaselineStore(config.data_dir))
    if not config.data_dir:
        log.warning("savings: no --data-dir, so a recorded baseline lasts until restart")

    async def sampler(app: web.Application) -> AsyncIterator[None]:
        task = None
        agents = app[PLANE].agents
        if agents.url_template:
            def nodes() -> list[str]:
                return list(app[NODES].items)

            def alive() -> set[str]:
                return set(app[PODS].keys)
            task = asyncio.create_task(sample_forever(agents.observe, nodes, alive, app[STATE].usage,
                                                      config.policy, config.sample_seconds))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(sampler)

"""The /api/v1 wire format: pydantic v2 models, the single source of truth for the OpenAPI spec.

Why one module: the server encodes every response through these models and ``console.openapi``
builds the OpenAPI 3.1 document from them, so the spec and the server cannot drift. The UI
(``console/ui``) is written against the same shapes. Models change only by *adding* fields.
Invariants: every millicore value is an ``int >= 0``; money is a float in ``Savings.currency``;
times are UNIX seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

Role = Literal["viewer", "operator", "admin"]
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "Job"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Model):
    code: str
    message: str


class ErrorResponse(Model):
    error: ErrorBody


class Health(Model):
    status: str


class WhoAmI(Model):
    name: str
    role: Role


class Cluster(Model):
    name: str
    url: str
    local: bool
    reachable: bool
    since: float | None = Field(None, description="UNIX time the reachability last changed")
    error: str | None = None


class ClusterList(Model):
    items: list[Cluster]


class Enforcement(Model):
    state: str
    reason: str = ""
    kernel: str = ""
    since: int = 0
    exit: str = ""


class TierLoad(Model):
    request_m: int = Field(ge=0)
    used_m: int = Field(ge=0)
    pressure_pct: float = Field(ge=0)


class NodeSummary(Model):
    name: str
    cpus: int | None
    enforcement: Enforcement | None
    fenced: str
    free_m: int | None
    tiers: dict[str, TierLoad]
    unschedulable: bool
    instance_type: str | None
    pods: int = Field(ge=0)
    capacity_m: int | None = Field(None, ge=0, description="status.capacity.cpu in millicores")
    capacity_type: str = Field("", description="spot | on-demand | '' (no known label says)")
    region: str = ""
    internal_ip: str = Field("", description="status.addresses InternalIP ('' when none): {ip} in --agent-url "
                                             "when no agent pod is known on the node")


class Owner(Model):
    kind: str
    name: str


class PodSummary(Model):
    namespace: str
    name: str
    uid: str
    node: str
    phase: str
    tier: str
    profile: str | None
    request_m: int = Field(ge=0)
    limit_m: int | None
    original_request_m: int | None
    owner: Owner | None
    containers: list[str]


class NodePod(PodSummary):
    layer: str | None


class CpuRole(Model):
    cpu: int
    role: Literal["fenced", "shared"]


class AgentStatus(Model):
    reachable: bool
    error: str | None


class NodeDetail(Model):
    """NodeSummary's fields, with ``pods`` as the list of the node's pods."""

    name: str
    cpus: int | None
    enforcement: Enforcement | None
    fenced: str
    free_m: int | None
    tiers: dict[str, TierLoad]
    unschedulable: bool
    instance_type: str | None
    pods: list[NodePod]
    cpu_roles: list[CpuRole]
    linter: dict[str, list[str]] | None
    agent: AgentStatus


class PageFields(Model):
    """What every paged list carries besides its items: the continue token (JSON key
    ``continue``) and the total across pages."""

    continue_: str | None = Field(None, alias="continue")
    total: int
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NodePage(PageFields):
    items: list[NodeSummary]


class PodPage(PageFields):
    items: list[PodSummary]


class ContainerDetail(Model):
    name: str
    image: str
    request_m: int
    limit_m: int | None
    original_request_m: int | None
    ready: bool
    restarts: int
    init: bool = Field(False, description="an init container (listed after the app containers)")


class PodDetail(Model):
    """PodSummary's fields, with ``containers`` in detail."""

    namespace: str
    name: str
    uid: str
    node: str
    phase: str
    tier: str
    profile: str | None
    request_m: int = Field(ge=0)
    limit_m: int | None
    original_request_m: int | None
    owner: Owner | None
    containers: list[ContainerDetail]
    layer: str | None
    labels: dict[str, str]
    annotations: dict[str, str]


class Throttling(Model):
    nr_periods: int
    nr_throttled: int
    throttled_seconds: float


class PodPerformance(Model):
    used_m: int | None
    request_m: int
    limit_m: int | None
    throttled: Throttling | None
    pressure_pct: float | None
    runqueue_wait_p99_us: float | None
    layer: str | None
    threads: list[dict[str, str | int | float]] | None
    source: Literal["agent"]
    sampled_at: float
    agent: AgentStatus | None = Field(None, description="whether the node's agent answered; when not, every "
                                                        "measured field is null (absent, never 0)")


class Manifest(Model):
    manifest: str


class WorkloadSummary(Model):
    kind: WorkloadKind
    namespace: str
    name: str
    replicas: int
    ready: int
    pods: int


class WorkloadPage(PageFields):
    items: list[WorkloadSummary]


class WorkloadDetail(Model):
    """WorkloadSummary's fields, with ``pods`` as the list of its pods."""

    kind: WorkloadKind
    namespace: str
    name: str
    replicas: int
    ready: int
    pods: list[PodSummary]


class Revision(Model):
    revision: int
    created: str
    name: str


class RevisionList(Model):
    items: list[Revision]


class RevisionDiff(Model):
    diff: str


class SavingsLine(Model):
    instance_type: str
    amount: float
    millicore_hours: float
    capacity_type: str = Field("", description="spot | on-demand | '' (no label says)")
    region: str = ""
    node_hours: float | None = Field(None, description="realized lines: node-hours removed against the baseline")


class SavingsBucket(Model):
    total: float
    by_instance_type: list[SavingsLine]


class Savings(Model):
    currency: str
    realized: SavingsBucket
    identified: SavingsBucket
    total_cost: float
    unpriced_instance_types: list[str]
    window: str
    source: Literal["rightsizer", "percentiles"] = "percentiles"
    baseline_recorded: float | None = Field(None, description="UNIX time the node baseline was recorded")
    pods_with_recommendation: int = Field(0, ge=0)
    prices_error: str | None = Field(None, description="why the price book could not be read (last good one used)")


class BaselinePool(Model):
    instance_type: str
    capacity_type: str = ""
    region: str = ""
    nodes: int = Field(ge=0)
    capacity_m: int = Field(ge=0)

    @field_validator("nodes", "capacity_m", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        if isinstance(value, bool):  # JSON Schema's integer takes 3.0, never false
            raise ValueError("expected an integer, not a boolean")
        return value


class Baseline(Model):
    recorded: float
    pools: list[BaselinePool]
    audit_id: int | None = Field(default=None, description="on the POST that recorded it: that audit record's id")


class BaselineRequest(Model):
    """Empty: record the fleet as it is now. ``pools``: record these (the fleet before Temper)."""

    pools: list[BaselinePool] | None = None


class ActionResult(Model):
    result: Literal["ok", "dry-run", "partial", "failed"]
    audit_id: int
    detail: str = ""


class DrainRequest(Model):
    dry_run: bool = False
    timeout_seconds: float = Field(60.0, gt=0, le=3600)


class Blocked(Model):
    pod: str
    reason: str


class DrainResult(ActionResult):
    evicted: list[str]
    blocked: list[Blocked]
    pending: list[str]
    partial: bool


class Blocker(Model):
    pod: str
    pdb: str
    reason: str


class DrainPreview(Model):
    evictions: list[str]
    blockers: list[Blocker]
    skipped: list[Blocked] = Field(default_factory=list, description="DaemonSet, mirror and finished pods")


class SafeModeRequest(Model):
    enabled: bool
    wait_seconds: float = Field(0.0, ge=0, le=600)


class SafeModeResult(ActionResult):
    nodes: dict[str, str]


class TraceRequest(Model):
    seconds: float = Field(5.0, gt=0, le=300)


class TraceResult(ActionResult):
    trace_id: str


class TokenRequest(Model):
    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    role: Role


class TokenInfo(Model):
    name: str
    role: Role
    created: float
    last_used: float | None
    revoked: bool


class TokenCreated(Model):
    name: str
    role: Role
    token: str = Field(description="shown once; only its HMAC is stored")
    audit_id: int


class TokenList(Model):
    items: list[TokenInfo]


class AuditRecord(Model):
    id: int
    time: float
    token: str
    role: str
    action: str
    target: str
    parameters: dict[str, object]
    result: Literal["allowed", "denied", "failed"]
    detail: str
    previous: dict[str, object] | None
    hash: str


class AuditList(Model):
    items: list[AuditRecord]
    chain_ok: bool
    continue_: str | None = Field(None, alias="continue", description="older records: pass as ?continue=")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Event(Model):
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    cluster: str
    object: NodeSummary | PodSummary | WorkloadSummary


# ---- explorer requests (query strings) and non-JSON responses ------------------------------------
class Query(BaseModel):
    """A query string: unknown parameters are ignored, known ones validated (a 400 names them)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ListQuery(Query):
    limit: int = Field(100, ge=1, le=1000)
    continue_: str = Field("", alias="continue", description="the last key of the previous page")
    q: str = Field("", description="substring of the item key (namespace/name)")


class PodListQuery(ListQuery):
    node: str = Field("", description="only the pods bound to this node")
    namespace: str = ""


class WorkloadListQuery(ListQuery):
    kind: WorkloadKind | Literal[""] = ""
    namespace: str = ""


class LogQuery(Query):
    container: str = Field("", max_length=253, description="required when the pod has several containers")
    follow: bool = False
    tailLines: int | None = Field(None, ge=0, le=100_000)  # the API server's parameter name
    sinceSeconds: int | None = Field(None, ge=1, le=10 * 365 * 86400)  # the API server's name


class DiffQuery(Query):
    from_: int = Field(alias="from", ge=0)
    to: int = Field(ge=0)


class EventsQuery(Query):
    kinds: str = Field("nodes,pods,workloads", pattern=r"^[a-z,]*$",
                       description="comma-separated subset of nodes, pods, workloads")
    access_token: str = Field("", description="the bearer token, for EventSource clients that cannot send headers")


class LogText(RootModel[str]):
    """``text/plain``: the container's log, streamed (``openapi.MEDIA``)."""


class EventStream(RootModel[str]):
    """``text/event-stream``: ``event:`` nodes | pods | workloads (data: an ``Event``) or reset
    (data: a ``StreamReset``); ``id:`` EPOCH-SEQ for ``Last-Event-ID`` resume (``openapi.MEDIA``)."""


class StreamReset(Model):
    reason: str

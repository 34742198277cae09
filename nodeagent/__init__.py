"""The Temper node agent (L0): pods -> tiers -> layer plan -> in-kernel enforcement.

Observes pods on its node (API watch or a pods file), finds their cgroups, plans layers with
``temper.plan``, enforces the plan through an ``Enforcer`` (Temper's sched_ext scheduler via
bpftool, or nothing in observe-only mode), publishes per-tier load as node annotations and
serves /metrics, /observe, /healthz and /readyz.
"""

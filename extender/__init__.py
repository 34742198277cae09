"""Temper's L1 placement layer: a kube-scheduler HTTP extender scoring nodes by protection capacity.

Modules, importing downward only: ``wire`` (the extender/v1 wire format and the error tree),
``scoring`` (the pure formula), ``table`` (the per-node precomputed hot path), ``metrics``,
``schedconfig`` (the KubeSchedulerConfiguration printer), ``app`` (aiohttp adapter) and
``main`` (CLI). See extender/README.md.
"""

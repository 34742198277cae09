"""Temper: kernel-enforced CPU QoS for Kubernetes.

This package is the pure core shared by every component: the tier model, CPU quantities,
the pod model, CPU sets and node topology, the layer planner and the annotation wire formats.
Nothing in ``temper`` (outside ``temper.kube``) performs I/O; the node agent, the scheduler
extender and the admission webhook are thin adapters around it. The import direction is
``temper`` <- ``temper.kube`` <- ``extender`` / ``webhook`` / ``nodeagent`` (see
docs/architecture.md; enforced by tests/core/test_import_layers.py).
"""

__version__ = "0.1.0"

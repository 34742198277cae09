"""Code that runs inside the lab guest under its Python 3.13 (stdlib only).

Why it exists: the guest side of the lab (scenario runner, kubelet emulation) ships in the
per-run payload as part of the ``kernellab`` package, so it must not import anything the
guest lacks.  Invariant: modules here import only the standard library and
``kernellab.protocol``.
"""

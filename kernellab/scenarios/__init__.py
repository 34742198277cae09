"""Scenarios: modules run inside the lab guest by :mod:`kernellab.guest.runner`.

Why it exists: a scenario is the unit a lab test or ``temper lab run NAME`` executes.
Contract: a module here defines ``guest_main(ctx) -> int`` (runs in the guest, stdlib
only, reports through ``ctx.emit``/``ctx.check``) and optionally
``prepare(lab, kernel, work_dir) -> kernellab.image.Payload`` (runs on the host first,
e.g. to compile BPF objects for that kernel; may import host-only modules lazily).
"""

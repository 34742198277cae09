"""Temper's kernel lab: boots real sched_ext kernels under QEMU for tests.

Why it exists: the build hosts run kernels without sched_ext, so the product's BPF
scheduler and node agent can only be exercised for real inside a guest.  This package
fetches and caches everything that takes (Debian packages through a private apt
configuration, a Linux 7.2 image, a locally built 6.12 kernel, QEMU >= 10, guest
userspace, Python wheels), assembles initramfs images and runs scenarios in a guest.

Invariants:
- nothing is installed on the host by the fetch step except the build toolchain that
  ``kernellab.fetch.install_host_tools`` names explicitly;
- everything cached lives under :func:`kernellab.cache.cache_root` and is written
  atomically (temporary name, then ``rename``), so a killed fetch can simply be rerun;
- the host never runs more than one QEMU guest at a time from this package.
"""

from __future__ import annotations

__all__: list[str] = []

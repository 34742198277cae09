"""Hold a BPF link by file descriptor, so the scheduler lives exactly as long as the agent.

``bpftool struct_ops register OBJ DIR`` pins the scheduler's link in DIR (otherwise it
detaches when bpftool exits). A pinned link would outlive the agent — a SIGKILLed agent
would leave the node enforcing a plan nobody maintains. So the agent opens the pin
(``BPF_OBJ_GET``) and then unlinks it: its file descriptor is the last reference, and the
kernel detaches the scheduler whenever that descriptor closes, including on SIGKILL.

This is the one place the agent calls the ``bpf(2)`` syscall directly (bpftool cannot hand
a descriptor to another process). Errors raise ``OSError`` with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_BPF_OBJ_GET = 7
_SYSCALL_BPF = {"x86_64": 321, "aarch64": 280}


def open_pinned(path: str) -> int:
    """``BPF_OBJ_GET`` on a bpffs path: a new descriptor for the pinned object (O_CLOEXEC)."""
    number = _SYSCALL_BPF.get(platform.machine())
    if number is None:
        raise OSError(0, f"bpf(2) syscall number unknown for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    encoded = ctypes.create_string_buffer(os.fsencode(path))
    # union bpf_attr for BPF_OBJ_GET: u64 pathname, u32 bpf_fd, u32 file_flags, s32 path_fd (+pad).
    attr = ctypes.create_string_buffer(struct.pack("<QIIi4x", ctypes.addressof(encoded), 0, 0, 0))
    fd = int(libc.syscall(number, _BPF_OBJ_GET, attr, ctypes.sizeof(attr)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"BPF_OBJ_GET {path}: {os.strerror(err)}")
    os.set_inheritable(fd, False)
    return fd

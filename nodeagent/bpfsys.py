"""BPF map access through the bpf(2) syscall, from Python with ctypes (no library, no subprocess).

Why it exists: the agent reads the scheduler's counters every scan and writes a whole plan on
every re-plan. Through ``bpftool`` each of those is a process start (milliseconds natively,
far more under emulation); through the syscall it is a few microseconds. ``bpftool`` stays
for what needs libbpf (loading and registering the struct_ops object) and for pinning.

Design:
- ``BpfMap.open(path)`` is ``BPF_OBJ_GET`` on a pinned map followed by
  ``BPF_OBJ_GET_INFO_BY_FD``: every map knows its type, key/value size and ``max_entries``,
  and every key and value is checked against them *before* the syscall, so a layout mistake
  is a clear ``BpfSysError`` naming the map, never a kernel buffer overrun.
- Per-CPU maps (PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH) carry one value per *possible*
  CPU, each padded to 8 bytes: the kernel copies ``round_up(value_size, 8) * nr_possible``
  bytes (``/sys/devices/system/cpu/possible``), so the buffer is always that large. Their
  values are ``list[bytes]`` (one entry per possible CPU, padding stripped) and use the
  ``*_percpu`` methods; the plain methods refuse them (and vice versa).
- ``items()`` uses ``BPF_MAP_LOOKUP_BATCH`` (5.6+) and falls back, once per map, to
  ``BPF_MAP_GET_NEXT_KEY`` + ``BPF_MAP_LOOKUP_ELEM`` when the kernel answers EINVAL,
  ENOTSUPP or EOPNOTSUPP (older kernels, map types without batch ops). Neither is a snapshot:
  a map written concurrently (the scheduler's counters) may show some entries before and
  some after a write; a hash key deleted mid-iteration restarts the walk (the kernel's
  get_next_key contract), so the fallback bounds itself to ``max_entries`` keys.
- Descriptors: a ``BpfMap`` owns exactly one fd, closed by ``close()`` (idempotent) or at the
  end of a ``with`` block; a ``weakref.finalize`` closes it if the object is dropped
  unclosed, so no code path leaks an fd.

Errors: every failing syscall raises ``BpfSysError`` (an ``EnforcementError``) carrying
``errno``, the operation and the map's path: ``lookup /sys/fs/bpf/temper/maps/temper_cpus:
Invalid argument (errno 22)``. A missing key is not an error: ``lookup`` returns None and
``delete`` returns False. Unsupported architectures raise ``BpfSysError`` at the first call.

``create_map`` and ``pin`` exist for tests and tools (the scheduler's own maps are created by
libbpf when bpftool loads the object).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from nodeagent.enforcement import EnforcementError
from temper.cpuset import parse_cpulist

SYSCALL_NUMBERS = {"x86_64": 321, "amd64": 321, "aarch64": 280, "arm64": 280}
"""__NR_bpf: arch/x86/entry/syscalls/syscall_64.tbl and the generic table arm64 uses."""

# enum bpf_cmd (include/uapi/linux/bpf.h)
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_MAP_LOOKUP_BATCH = 24

# enum bpf_map_type (the ones Temper uses or may meet)
MAP_HASH = 1
MAP_ARRAY = 2
MAP_PERCPU_HASH = 5
MAP_PERCPU_ARRAY = 6
MAP_LRU_PERCPU_HASH = 10
PER_CPU_TYPES = frozenset({MAP_PERCPU_HASH, MAP_PERCPU_ARRAY, MAP_LRU_PERCPU_HASH})
ARRAY_TYPES = frozenset({MAP_ARRAY, MAP_PERCPU_ARRAY})

# update flags
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

ENOTSUPP = 524
"""The kernel-internal "operation not supported" some map types return for batch ops."""
NO_BATCH_ERRNOS = frozenset({errno.EINVAL, ENOTSUPP, errno.EOPNOTSUPP})
ATTR_SIZE = 128
"""Bytes of ``union bpf_attr`` passed: covers every command used here; the tail is zero,
which the kernel requires of bytes it does not know."""
BATCH_COUNT = 256
"""Entries asked for per BPF_MAP_LOOKUP_BATCH call (doubled on ENOSPC: a hash bucket that
does not fit)."""
POSSIBLE_CPUS = "/sys/devices/system/cpu/possible"
OBJ_NAME_LEN = 16
"""BPF_OBJ_NAME_LEN: a map's name holds 15 characters and a NUL; longer names are cut."""

# struct bpf_map_info, first fields: type, id, key_size, value_size, max_entries, map_flags, name[16]
_MAP_INFO = struct.Struct("<IIIIII16s")
_MAP_INFO_BUFFER = 96  # >= the struct's size on any kernel that matters; the kernel truncates
_ELEM_ATTR = struct.Struct("<IIQQQ")  # map_fd, pad, key, value|next_key, flags
_OBJ_ATTR = struct.Struct("<QII")  # pathname, bpf_fd, file_flags
_INFO_ATTR = struct.Struct("<IIQ")  # bpf_fd, info_len, info
_BATCH_ATTR = struct.Struct("<QQQQIIQQ")  # in_batch, out_batch, keys, values, count, map_fd, elem_flags, flags
_CREATE_ATTR = struct.Struct("<IIIIIII16s")  # map_type, key_size, value_size, max_entries, flags, inner, numa, name
_COUNT_OFFSET = 32  # of ``count`` in the batch attr (the kernel writes back how many it copied)


class BpfSysError(EnforcementError):
    """A bpf(2) call failed; ``errno`` and ``path`` say which and on what."""

    def __init__(self, operation: str, path: str, error: int, detail: str = "") -> None:
        reason = detail or os.strerror(error)
        super().__init__(f"{operation} {path}: {reason} (errno {error})")
        self.operation = operation
        self.path = path
        self.errno = error


_libc: ctypes.CDLL | None = None


def _syscall(command: int, attr: ctypes.Array[ctypes.c_char], what: str, path: str) -> int:
    global _libc
    number = SYSCALL_NUMBERS.get(platform.machine())
    if number is None:
        raise BpfSysError(what, path, errno.ENOSYS, f"no bpf(2) syscall number for {platform.machine()}")
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    result: int = _libc.syscall(ctypes.c_long(number), ctypes.c_int(command), attr, ctypes.c_uint(ATTR_SIZE))
    if result < 0:
        raise BpfSysError(what, path, ctypes.get_errno())
    return result


def _attr(layout: struct.Struct, *fields: int | bytes) -> ctypes.Array[ctypes.c_char]:
    buffer = ctypes.create_string_buffer(ATTR_SIZE)
    layout.pack_into(buffer, 0, *fields)
    return buffer


def _address(buffer: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buffer) if buffer is not None else 0


def possible_cpus(path: str = POSSIBLE_CPUS) -> int:
    """How many CPUs the kernel sizes per-CPU values for (possible, not online)."""
    return len(parse_cpulist(Path(path).read_text()))


def _round8(size: int) -> int:
    return (size + 7) & ~7


@dataclass(frozen=True)
class MapInfo:
    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str

    @property
    def per_cpu(self) -> bool:
        return self.type in PER_CPU_TYPES


class BpfMap:
    """One open BPF map (one fd). Use ``BpfMap.open(path)`` as a context manager."""

    def __init__(self, fd: int, path: str, nr_cpus: int | None = None) -> None:
        self.path = path
        self._fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        try:
            self.info = self._get_info()
            self.nr_cpus = (nr_cpus or possible_cpus()) if self.info.per_cpu else 1
        except BaseException:
            self.close()
            raise
        self._stride = _round8(self.info.value_size) if self.info.per_cpu else self.info.value_size
        self._batch_supported = True

    @classmethod
    def open(cls, path: str | os.PathLike[str], nr_cpus: int | None = None) -> BpfMap:
        """``BPF_OBJ_GET`` on a pinned map."""
        text = os.fspath(path)
        name = ctypes.create_string_buffer(os.fsencode(text))
        fd = _syscall(BPF_OBJ_GET, _attr(_OBJ_ATTR, _address(name), 0, 0), "open", text)
        return cls(fd, text, nr_cpus)

    # ---- lifetime ----

    @property
    def fd(self) -> int:
        if not self._finalizer.alive:
            raise BpfSysError("use", self.path, errno.EBADF, "map is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> BpfMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BpfMap({self.path!r}, type={self.info.type}, key={self.info.key_size}, value={self.info.value_size})"

    # ---- buffers and checks ----

    @property
    def value_buffer_size(self) -> int:
        """Bytes the kernel copies for one value: ``round_up(value_size, 8) * nr_cpus`` per-CPU."""
        return self._stride * self.nr_cpus

    def _key(self, key: bytes, what: str) -> ctypes.Array[ctypes.c_char]:
        if len(key) != self.info.key_size:
            raise BpfSysError(what, self.path, errno.EINVAL,
                              f"key is {len(key)} bytes, the map's key_size is {self.info.key_size}")
        return ctypes.create_string_buffer(bytes(key), len(key))

    def _want(self, per_cpu: bool, what: str) -> None:
        if per_cpu != self.info.per_cpu:
            kind, method = ("a per-CPU", f"{what}_percpu") if self.info.per_cpu else ("not a per-CPU", what)
            raise BpfSysError(what, self.path, errno.EINVAL, f"{kind} map (type {self.info.type}): use {method}()")

    def _split(self, raw: bytes) -> list[bytes]:
        size, stride = self.info.value_size, self._stride
        return [raw[cpu * stride:cpu * stride + size] for cpu in range(self.nr_cpus)]

    def _get_info(self) -> MapInfo:
        buffer = ctypes.create_string_buffer(_MAP_INFO_BUFFER)
        attr = _attr(_INFO_ATTR, self._fd, _MAP_INFO_BUFFER, _address(buffer))
        _syscall(BPF_OBJ_GET_INFO_BY_FD, attr, "info", self.path)
        kind, map_id, key_size, value_size, max_entries, flags, name = _MAP_INFO.unpack_from(buffer)
        return MapInfo(kind, map_id, key_size, value_size, max_entries, flags,
                       name.split(b"\0", 1)[0].decode(errors="replace"))

    # ---- element operations ----

    def _found(self, command: int, attr: ctypes.Array[ctypes.c_char], what: str) -> bool:
        """The syscall, with ENOENT (no such key, no next key) answered False instead of raised."""
        try:
            _syscall(command, attr, what, self.path)
        except BpfSysError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        return True

    def _lookup_raw(self, key: bytes, what: str) -> bytes | None:
        key_buffer = self._key(key, what)
        value = ctypes.create_string_buffer(self.value_buffer_size)
        attr = _attr(_ELEM_ATTR, self.fd, 0, _address(key_buffer), _address(value), 0)
        return value.raw if self._found(BPF_MAP_LOOKUP_ELEM, attr, what) else None

    def lookup(self, key: bytes) -> bytes | None:
        """The value at ``key``, or None when there is none."""
        self._want(False, "lookup")
        return self._lookup_raw(key, "lookup")

    def lookup_percpu(self, key: bytes) -> list[bytes] | None:
        """One value per possible CPU, or None when there is none."""
        self._want(True, "lookup")
        raw = self._lookup_raw(key, "lookup")
        return None if raw is None else self._split(raw)

    def _update_raw(self, key: bytes, value: bytes, flags: int, what: str) -> None:
        key_buffer = self._key(key, what)
        value_buffer = ctypes.create_string_buffer(value, len(value))
        attr = _attr(_ELEM_ATTR, self.fd, 0, _address(key_buffer), _address(value_buffer), flags)
        _syscall(BPF_MAP_UPDATE_ELEM, attr, what, self.path)

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        self._want(False, "update")
        if len(value) != self.info.value_size:
            raise BpfSysError("update", self.path, errno.EINVAL,
                              f"value is {len(value)} bytes, the map's value_size is {self.info.value_size}")
        self._update_raw(key, value, flags, "update")

    def update_percpu(self, key: bytes, values: Sequence[bytes], flags: int = BPF_ANY) -> None:
        """Set the value of every possible CPU (``values`` has one entry per CPU)."""
        self._want(True, "update")
        if len(values) != self.nr_cpus or any(len(v) != self.info.value_size for v in values):
            raise BpfSysError("update", self.path, errno.EINVAL,
                              f"need {self.nr_cpus} values of {self.info.value_size} bytes")
        padding = b"\0" * (self._stride - self.info.value_size)
        self._update_raw(key, b"".join(v + padding for v in values), flags, "update")

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; False when it was not there. Arrays cannot delete (EINVAL)."""
        key_buffer = self._key(key, "delete")
        return self._found(BPF_MAP_DELETE_ELEM, _attr(_ELEM_ATTR, self.fd, 0, _address(key_buffer), 0, 0), "delete")

    def keys(self) -> Iterator[bytes]:
        """Every key, by ``BPF_MAP_GET_NEXT_KEY`` (at most ``max_entries`` of them)."""
        previous: ctypes.Array[ctypes.c_char] | None = None
        for _ in range(self.info.max_entries):
            following = ctypes.create_string_buffer(self.info.key_size)
            attr = _attr(_ELEM_ATTR, self.fd, 0, _address(previous), _address(following), 0)
            if not self._found(BPF_MAP_GET_NEXT_KEY, attr, "next key"):
                return
            yield following.raw
            previous = following

    # ---- whole-map reads ----

    def _items_raw(self, batch: bool) -> list[tuple[bytes, bytes]]:
        if batch and self._batch_supported:
            try:
                return self._lookup_batch()
            except BpfSysError as exc:
                if exc.errno not in NO_BATCH_ERRNOS:
                    raise
                self._batch_supported = False  # this kernel or map type has no batch ops
        entries = []
        for key in self.keys():
            value = self._lookup_raw(key, "lookup")
            if value is not None:  # deleted between the two calls
                entries.append((key, value))
        return entries

    def items(self, batch: bool = True) -> list[tuple[bytes, bytes]]:
        """Every (key, value): one batch lookup per ``BATCH_COUNT`` entries, else key by key."""
        self._want(False, "items")
        return self._items_raw(batch)

    def items_percpu(self, batch: bool = True) -> list[tuple[bytes, list[bytes]]]:
        """Every (key, [value per possible CPU])."""
        self._want(True, "items")
        return [(key, self._split(raw)) for key, raw in self._items_raw(batch)]

    @property
    def batch_supported(self) -> bool:
        """False once the kernel refused a batch lookup on this map (``items`` falls back)."""
        return self._batch_supported

    def _lookup_batch(self) -> list[tuple[bytes, bytes]]:
        key_size, value_size = self.info.key_size, self.value_buffer_size
        token_size = max(8, key_size)  # hash maps use a u32 bucket index, arrays a key
        tokens = [ctypes.create_string_buffer(token_size), ctypes.create_string_buffer(token_size)]
        count = max(1, min(BATCH_COUNT, self.info.max_entries))
        entries: list[tuple[bytes, bytes]] = []
        first = True
        while True:
            keys = ctypes.create_string_buffer(key_size * count)
            values = ctypes.create_string_buffer(value_size * count)
            attr = _attr(_BATCH_ATTR, 0 if first else _address(tokens[0]), _address(tokens[1]),
                         _address(keys), _address(values), count, self.fd, 0, 0)
            done = False
            try:
                _syscall(BPF_MAP_LOOKUP_BATCH, attr, "batch lookup", self.path)
            except BpfSysError as exc:
                if exc.errno == errno.ENOSPC and count < self.info.max_entries:
                    count *= 2  # one hash bucket holds more than ``count`` entries: ask for more
                    continue
                if exc.errno != errno.ENOENT:
                    raise
                done = True  # ENOENT: the walk reached the end; ``count`` says how many came back
            got = struct.unpack_from("<I", attr, _COUNT_OFFSET)[0]
            keys_raw, values_raw = keys.raw, values.raw
            entries += [(keys_raw[i * key_size:(i + 1) * key_size], values_raw[i * value_size:(i + 1) * value_size])
                        for i in range(got)]
            if done or got == 0 or (self.info.type in ARRAY_TYPES and len(entries) >= self.info.max_entries):
                return entries  # an array holds exactly max_entries: no second call to hear ENOENT
            first = False
            ctypes.memmove(tokens[0], tokens[1], token_size)  # out_batch of this call is in_batch of the next


def sum_u64(values: Sequence[bytes]) -> int:
    """The total of a per-CPU u64 counter (one 8-byte value per CPU)."""
    return sum(struct.unpack("<Q", v)[0] for v in values)


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int, name: str = "",
               flags: int = 0) -> BpfMap:
    """``BPF_MAP_CREATE`` (for tests and tools): a new map, open, unpinned."""
    encoded = name.encode()[:OBJ_NAME_LEN - 1]  # as libbpf does
    attr = _attr(_CREATE_ATTR, map_type, key_size, value_size, max_entries, flags, 0, 0, encoded)
    label = f"<new map {name or map_type}>"
    return BpfMap(_syscall(BPF_MAP_CREATE, attr, "create", label), label)


def pin(bpf_map: BpfMap, path: str | os.PathLike[str]) -> None:
    """``BPF_OBJ_PIN``: make ``bpf_map`` reachable at ``path`` (in a bpffs) after its fd closes."""
    text = os.fspath(path)
    name = ctypes.create_string_buffer(os.fsencode(text))
    _syscall(BPF_OBJ_PIN, _attr(_OBJ_ATTR, _address(name), bpf_map.fd, 0), "pin", text)

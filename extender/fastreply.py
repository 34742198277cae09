"""The extender's per-name loop behind one interface, with a native and a pure-Python backend.

Why it exists: at 5,000 nodes a ``/prioritize`` call is 5,000 names to split out of the body,
look up and write back with their scores. CPython needs ~150 ns per name for that even when
every step is a C-level builtin (split into bytes objects, hash each, probe a dict of objects
scattered over the heap, join): ~0.75 ms a call, which missed kube-scheduler's budget
(``benchmarks/RESULTS.md``). The native backend (``extender/_fastreply.c``, built by
``setup.py``) scans the body's bytes in place, looks each name up in one compact hash table
and writes the reply straight into one bytes object: no Python object per name; a whole
5,000-name call costs ~4x less CPU than before (``benchmarks/RESULTS.md``). This module is the
contract both backends meet, and its reference: the Python functions below *are* the
specification, and ``tests/extender/test_fastreply_backends.py`` checks the C code against
them on random input (the table's exactness tests run on both).

The interface (``Backend``):

- ``split_plain(raw)``: the names of a compact JSON array of plain names (``["a","b"]``), as
  their ``host_key`` bytes (a plain name is its own JSON encoding), or None unless every name
  is 1..253 plain characters (``PLAIN_NAME_BYTES``) and the array holds nothing else. The
  native result is a ``PlainNames`` sequence (offsets into ``raw``, bytes made on access).
- ``snapshot(slots)``: something with ``get(key, default)`` answering as ``slots`` (host key
  -> slot >= 1) does now. Python: the dict itself. Native: an immutable ``SlotIndex`` copy,
  which the caller (``extender.table.NodeTable``) drops whenever a slot is added or freed and
  rebuilds before its next answer, so it is never consulted stale.
- ``render(index, names, scores, reasons, nreasons) -> (body, counts)``: ``body`` is
  ``orjson.dumps`` of ``[{"Host": name, "Score": scores[slot]}, ...]`` in ``names``' order,
  repeats included, where ``slot = index.get(name, 0)`` (slot 0: a name the table does not
  know; ``scores[0]`` is the neutral score); ``counts[c]`` for ``c >= 1`` is how many names
  have reason code ``c = reasons[slot]`` — slot 0 counted per occurrence, every other slot
  once however often it repeats; code 0 means "scored" and is never counted (``counts[0]``
  is 0). A slot beyond ``scores``/``reasons``, a score above 10 or a code >= ``nreasons``
  raises ``IndexError``; ``names`` is a ``split_plain`` result or a list of host keys.

``BACKEND`` is the native backend when the extension is importable, else the Python one
(``NATIVE`` is None then; ``extender.main`` logs which at start-up, with a warning for the
Python one). ``TEMPER_EXTENDER_BACKEND=python`` forces the pure-Python one. The Python
backend's slot indirection costs it extra gathers per call: it is 1.1-1.6x slower than the
dict-of-tokens loop it replaced (measured in-process, ``benchmarks/RESULTS.md``) — the
fallback for a machine without a compiler, not a serving mode (the image always builds the
extension).
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

MAX_NAME_LENGTH = 253
"""A Node name is a DNS subdomain (RFC 1123): at most 253 characters."""
PLAIN_NAME_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:"
"""Characters a name may hold to stay on the fast path (no escapes, no non-ASCII, no quotes)."""
_SEPARATOR = b'","'

TOKENS: tuple[bytes, ...] = tuple(b'","Score":%d},{"Host":"' % s for s in range(11))
"""What follows a host key in the reply: its score, then the next entry's opening."""
LAST: dict[bytes, bytes] = {TOKENS[s]: b'","Score":%d}]' % s for s in range(11)}
"""The last entry's token closes the list instead."""
OPEN = b'[{"Host":"'


class Names(Protocol):
    """Host keys in request order: a ``list[bytes]`` or a native ``PlainNames``."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __getitem__(self, index: int, /) -> bytes: ...


class SlotLookup(Protocol):
    def get(self, key: bytes, default: int, /) -> int: ...


@dataclass(frozen=True)
class Backend:
    name: str
    split_plain: Callable[[bytes], Names | None]
    snapshot: Callable[[dict[bytes, int]], SlotLookup]
    render: Callable[[SlotLookup, Names, bytearray, bytearray, int], tuple[bytes, list[int]]]


def encode_reply(keys: Names, tokens: Iterable[bytes]) -> bytes:
    """The HostPriorityList ``[{"Host":"<key>","Score":N},...]`` for host keys and their tokens
    (``TOKENS[N]``), exactly as ``orjson.dumps`` encodes it. An exception raised by ``tokens``
    propagates before anything is assigned. Worked example, keys ``b"n2", b"n1"`` scored 7, 5::

        [b'[{"Host":"n2', b'","Score":7},{"Host":"', b'n1', b'","Score":5}]']
        -> b'[{"Host":"n2","Score":7},{"Host":"n1","Score":5}]'
    """
    if not keys:
        return b"[]"
    parts: list[bytes] = [b""] * (2 * len(keys))
    parts[1::2] = tokens
    parts[0::2] = keys
    parts[0] = OPEN + parts[0]
    parts[-1] = LAST[parts[-1]]
    return b"".join(parts)


def plain_keys(raw: bytes) -> list[bytes] | None:
    """The Python ``split_plain``. C-level checks only: split at the separators; after deleting
    the plain characters, exactly the separators (one fewer than the names) remain."""
    if raw == b"[]":
        return []
    if len(raw) < 5 or raw[:2] != b'["' or raw[-2:] != b'"]' or b'""' in raw:
        return None
    inner = raw[2:-2]
    keys = inner.split(_SEPARATOR)
    if inner.translate(None, PLAIN_NAME_BYTES) != _SEPARATOR * (len(keys) - 1):
        return None
    if max(map(len, keys)) > MAX_NAME_LENGTH:
        return None
    return keys


def _python_snapshot(slots: dict[bytes, int]) -> SlotLookup:
    return slots


def _gather(values: bytearray | tuple[bytes, ...], indexes: Iterable[int]) -> tuple[Any, ...]:
    """``values[i]`` for every index, in one C-level ``itemgetter`` call (a ``map`` over a
    bytearray's ``__getitem__`` goes through a slot wrapper per item, ~2x slower)."""
    indexes = list(indexes)
    if len(indexes) > 1:
        return cast(tuple[Any, ...], operator.itemgetter(*indexes)(values))
    return tuple(values[i] for i in indexes)


def _python_render(index: SlotLookup, names: Names, scores: bytearray, reasons: bytearray,
                   nreasons: int) -> tuple[bytes, list[int]]:
    """The Python ``render``: a ``dict.get`` per name, gathers and a join (``encode_reply``);
    the distinct-slot count runs only over the names whose code is not 0 (``compress``)."""
    slots = list(map(index.get, names, itertools.repeat(0)))
    body = encode_reply(names, _gather(TOKENS, _gather(scores, slots)))
    codes = bytes(_gather(reasons, slots))
    if codes and max(codes) >= nreasons:
        raise IndexError("reason code out of range")
    counts = [0] * nreasons
    unknown = slots.count(0)
    if unknown and reasons[0]:
        counts[reasons[0]] += unknown
    known = set(itertools.compress(slots, codes))
    known.discard(0)
    for code in _gather(reasons, known):
        counts[code] += 1
    return body, counts


PYTHON = Backend("python", plain_keys, _python_snapshot, _python_render)


def _native() -> Backend | None:
    try:
        from extender import _fastreply
    except ImportError:
        return None
    # The native render takes only its own SlotIndex, which is what the native snapshot makes.
    render = cast(Callable[[SlotLookup, Names, bytearray, bytearray, int], tuple[bytes, list[int]]],
                  _fastreply.render)
    return Backend("native", _fastreply.split_plain, _fastreply.SlotIndex, render)


NATIVE = _native()
BACKEND = PYTHON if NATIVE is None or os.environ.get("TEMPER_EXTENDER_BACKEND") == "python" else NATIVE

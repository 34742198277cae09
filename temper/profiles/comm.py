"""Thread-name (``comm``) matchers compiled to a form a BPF program can check without backtracking.

Why it exists: the kernel resolves a thread's group from its ``comm`` (at most 15 bytes,
``TASK_COMM_LEN`` 16 with the NUL) when a task starts, moves cgroup or renames itself. BPF
cannot run a regex engine, so every matcher is compiled here to a tiny program of at most
``MAX_OPS`` ops that the kernel walks left to right, and ``match_compiled`` is the exact
Python mirror of that walk (property-tested against Python's ``re``).

Compiled form (``CommProgram``): ``ops`` in order, plus ``anchored`` (the whole comm must be
consumed; otherwise the program is a prefix match). An op is ``(kind, min, max, bytes)``:

- ``LIT``  — the literal ``bytes`` (1..15) at the current position;
- ``SET``  — between ``min`` and ``max`` bytes (greedy) each inside one of the inclusive byte
  ranges ``bytes`` = lo0,hi0,lo1,hi1,... (at most ``MAX_RANGES`` ranges);
- ``NSET`` — like ``SET`` but bytes *outside* the ranges.

Accepted regex subset (``compile_regex``): literals (``\\`` escapes metacharacters), ``.``,
``\\d``, ``\\w``, classes ``[...]`` / ``[^...]`` with ranges, quantifiers ``? * + {m} {m,n}``
on a class or a single character, a trailing ``$``; the pattern is anchored at the start
(``re.match`` semantics). ``*``/``+`` are bounded by ``COMM_MAX``. Greedy without backtracking
equals regex semantics only if a variable-width run cannot consume what follows it, so a
pattern whose run overlaps the first bytes of its continuation is rejected (``CommError``).
Groups, alternation, lookaround and backreferences are rejected.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

COMM_MAX = 15
"""Bytes of a thread name the kernel keeps (TASK_COMM_LEN - 1)."""
MAX_OPS = 8
MAX_RANGES = 8
MAX_REGEX_LEN = 64


class CommError(ValueError):
    """A thread-name matcher that cannot be compiled to the BPF form."""


class OpKind(enum.IntEnum):
    LIT = 1
    SET = 2
    NSET = 3


@dataclass(frozen=True)
class Op:
    kind: OpKind
    min: int
    max: int
    data: bytes

    def accepts(self, byte: int) -> bool:
        inside = any(self.data[i] <= byte <= self.data[i + 1] for i in range(0, len(self.data), 2))
        return inside if self.kind is OpKind.SET else not inside


@dataclass(frozen=True)
class CommProgram:
    ops: tuple[Op, ...]
    anchored: bool


def compile_prefix(text: str) -> CommProgram:
    return CommProgram((_literal(text),), anchored=False)


def compile_exact(text: str) -> CommProgram:
    return CommProgram((_literal(text),), anchored=True)


def _literal(text: str) -> Op:
    data = text.encode()
    if not data:
        raise CommError("an empty thread name matches nothing useful")
    if len(data) > COMM_MAX:
        raise CommError(f"{text!r} is {len(data)} bytes; a thread name keeps at most {COMM_MAX} "
                        f"(the kernel would see {data[:COMM_MAX].decode(errors='replace')!r})")
    if 0 in data:
        raise CommError("a thread name cannot contain NUL")
    return Op(OpKind.LIT, len(data), len(data), data)


_ESCAPES = {"d": (OpKind.SET, b"09"), "w": (OpKind.SET, b"09AZ__az")}


def _parse_class(pattern: str, i: int) -> tuple[OpKind, bytes, int]:
    kind = OpKind.SET
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        kind, i = OpKind.NSET, i + 1
    ranges: list[tuple[int, int]] = []
    first = True
    while i < len(pattern) and (pattern[i] != "]" or first):
        first = False
        lo, i = _class_char(pattern, i)
        hi = lo
        if i + 1 < len(pattern) and pattern[i] == "-" and pattern[i + 1] != "]":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise CommError(f"bad range in class at {i}")
        ranges.append((lo, hi))
    if i >= len(pattern):
        raise CommError("unterminated character class")
    if len(ranges) > MAX_RANGES:
        raise CommError(f"a class may have at most {MAX_RANGES} ranges")
    return kind, bytes(b for r in sorted(ranges) for b in r), i + 1


def _class_char(pattern: str, i: int) -> tuple[int, int]:
    char = pattern[i]
    if char == "\\":
        if i + 1 >= len(pattern):
            raise CommError("dangling backslash")
        char, i = pattern[i + 1], i + 1
    if not 0 < ord(char) < 128:
        raise CommError("only ASCII is supported in thread-name classes")
    return ord(char), i + 1


def _quantifier(pattern: str, i: int) -> tuple[int, int, int]:
    if i >= len(pattern):
        return 1, 1, i
    char = pattern[i]
    if char == "?":
        return 0, 1, i + 1
    if char == "*":
        return 0, COMM_MAX, i + 1
    if char == "+":
        return 1, COMM_MAX, i + 1
    if char == "{":
        found = re.match(r"\{(\d+)(,(\d+)?)?\}", pattern[i:])
        if not found:
            raise CommError(f"bad repetition at {i}")
        lo = int(found.group(1))
        hi = lo if found.group(2) is None else int(found.group(3) or COMM_MAX)
        if hi < lo or hi > COMM_MAX:
            raise CommError(f"repetition {found.group(0)} must be within 0..{COMM_MAX}")
        return lo, hi, i + found.end()
    return 1, 1, i


def compile_regex(pattern: str) -> CommProgram:
    """Compile the bounded regex subset (module docstring) or raise ``CommError``."""
    if len(pattern) > MAX_REGEX_LEN:
        raise CommError(f"regex longer than {MAX_REGEX_LEN} characters")
    if pattern.startswith("^"):
        pattern = pattern[1:]
    anchored = pattern.endswith("$") and not pattern.endswith("\\$")
    if anchored:
        pattern = pattern[:-1]
    ops: list[Op] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char in "()|":
            raise CommError("groups and alternation cannot be checked in BPF; use one group per name")
        if char in "?*+{":
            raise CommError(f"quantifier {char!r} at {i} has nothing to repeat")
        if char in "$^":
            raise CommError(f"anchor {char!r} only allowed at the ends")
        if char == "[":
            kind, data, i = _parse_class(pattern, i)
        elif char == ".":
            kind, data, i = OpKind.NSET, b"\x00\x00", i + 1
        elif char == "\\":
            if i + 1 >= len(pattern):
                raise CommError("dangling backslash")
            escaped = pattern[i + 1]
            if escaped in _ESCAPES:
                kind, data = _ESCAPES[escaped]
            elif escaped.isalnum():
                raise CommError(f"escape \\{escaped} is not supported")
            else:
                kind, data = OpKind.LIT, escaped.encode()
            i += 2
        else:
            if not 0 < ord(char) < 128:
                raise CommError("only ASCII is supported in thread-name regexes")
            kind, data, i = OpKind.LIT, char.encode(), i + 1
        lo, hi, i = _quantifier(pattern, i)
        if kind is OpKind.LIT and (lo, hi) == (1, 1):
            if ops and ops[-1].kind is OpKind.LIT:
                merged = ops[-1].data + data
                ops[-1] = Op(OpKind.LIT, len(merged), len(merged), merged)
            else:
                ops.append(Op(OpKind.LIT, 1, 1, data))
            continue
        if kind is OpKind.LIT:
            kind, data = OpKind.SET, data + data
        ops.append(Op(kind, lo, hi, data))
    if not ops:
        raise CommError("empty regex matches every thread")
    if len(ops) > MAX_OPS:
        raise CommError(f"regex needs {len(ops)} ops; BPF matcher has {MAX_OPS}")
    if any(op.kind is OpKind.LIT and len(op.data) > COMM_MAX for op in ops):
        raise CommError(f"literal longer than {COMM_MAX} bytes can never match a thread name")
    _check_deterministic(ops, anchored)
    return CommProgram(tuple(ops), anchored)


def _first_accepts(op: Op, byte: int) -> bool:
    return op.data[0] == byte if op.kind is OpKind.LIT else op.accepts(byte)


def _check_deterministic(ops: list[Op], anchored: bool) -> None:
    for index, op in enumerate(ops):
        if op.kind is OpKind.LIT or op.min == op.max:
            continue
        if not anchored and index == len(ops) - 1:
            continue  # a trailing run in a prefix match: greedy or not, the prefix matched
        for follower in ops[index + 1:]:
            for byte in range(1, 256):
                if op.accepts(byte) and _first_accepts(follower, byte):
                    raise CommError("a repetition overlaps what follows it; BPF matches greedily "
                                    "without backtracking — make the run's class disjoint from the next item")
            if follower.min > 0:
                break


def match_compiled(program: CommProgram, comm: bytes) -> bool:
    """The kernel's walk, byte for byte: greedy ops, no backtracking."""
    comm = comm[:COMM_MAX]
    pos = 0
    for op in program.ops:
        if op.kind is OpKind.LIT:
            if comm[pos:pos + len(op.data)] != op.data:
                return False
            pos += len(op.data)
            continue
        count = 0
        while count < op.max and pos < len(comm) and op.accepts(comm[pos]):
            pos += 1
            count += 1
        if count < op.min:
            return False
    return pos == len(comm) or not program.anchored


def describe(program: CommProgram) -> str:
    return " ".join(f"{op.kind.name}[{op.min},{op.max}]{op.data!r}" for op in program.ops) + (
        " $" if program.anchored else " ...")

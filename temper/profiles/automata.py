"""Decide overlap and containment of two compiled thread-name programs.

Why it exists: the linter must prove "no thread name matches both groups" and "every name of
group B is already taken by group A" exactly, not by sampling. Each ``CommProgram`` walks
deterministically (greedy, no backtracking — that is what the kernel runs), so it is a DFA
over bytes with states ``(op index, bytes taken in that op)`` plus an accepting sink for a
finished prefix match. ``witness`` searches the product of two such DFAs breadth-first over
names of 1..15 bytes (no NUL) and returns the shortest name with the requested acceptance
pair, or None. The state space is at most (8 ops x 16)^2 per length, so this is instant.
"""

from __future__ import annotations

from temper.profiles.comm import COMM_MAX, CommProgram, OpKind

_DEAD = (-1, 0)
_SINK = (-2, 0)
State = tuple[int, int]


def _step(program: CommProgram, state: State, byte: int) -> State:
    index, count = state
    if state in (_SINK, _DEAD):
        return state
    ops = program.ops
    while True:
        if index == len(ops):
            return _DEAD if program.anchored else _SINK
        op = ops[index]
        if op.kind is OpKind.LIT:
            if op.data[count] != byte:
                return _DEAD
            count += 1
            return (index + 1, 0) if count == len(op.data) else (index, count)
        if count < op.max and op.accepts(byte):
            return index, count + 1
        if count < op.min:
            return _DEAD
        index, count = index + 1, 0


def _accepts(program: CommProgram, state: State) -> bool:
    if state == _SINK:
        return True
    if state == _DEAD:
        return False
    index, count = state
    for op in program.ops[index:]:
        if op.kind is OpKind.LIT or count < op.min:
            return False
        count = 0
    return True


def _settle(program: CommProgram, state: State) -> State:
    """A finished prefix program accepts whatever follows: move to the sink eagerly."""
    if not program.anchored and state[0] == len(program.ops):
        return _SINK
    return state


_ANY = CommProgram((), anchored=False)


def witness(a: CommProgram, b: CommProgram | None, want_a: bool, want_b: bool) -> bytes | None:
    """Shortest comm (1..15 bytes) with accept(a) == want_a and accept(b) == want_b."""
    other = b if b is not None else _ANY
    start = (_settle(a, (0, 0)), _settle(other, (0, 0)))
    frontier: dict[tuple[State, State], bytes] = {start: b""}
    for _ in range(COMM_MAX):
        following: dict[tuple[State, State], bytes] = {}
        for (sa, sb), text in frontier.items():
            for byte in range(1, 256):
                na = _settle(a, _step(a, sa, byte))
                nb = _settle(other, _step(other, sb, byte))
                if (na == _DEAD and want_a) or (nb == _DEAD and want_b):
                    continue
                key = (na, nb)
                if key in following:
                    continue
                name = text + bytes([byte])
                if _accepts(a, na) == want_a and _accepts(other, nb) == want_b:
                    return name
                following[key] = name
        frontier = following
    return None

"""The native backend (``extender/_fastreply.c``) gives exactly what the pure-Python reference in
``extender.fastreply`` gives — the same names split out of any raw bytes, the same reply bytes
and neutral counts for any index, names, scores and reason codes, the same exception class for
out-of-range input — and it is built (``pip install -e .`` compiles it; a missing build would
otherwise pass unnoticed, served by the slower fallback)."""

from __future__ import annotations

import os

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.fastreply import BACKEND, NATIVE, PLAIN_NAME_BYTES, PYTHON, Backend, Names, plain_keys

PLAIN = PLAIN_NAME_BYTES.decode()


def native() -> Backend:
    assert NATIVE is not None, "extender._fastreply is not built: `pip install -e .` compiles it (needs gcc)"
    return NATIVE


def test_the_native_backend_is_built_and_serves_unless_python_is_forced() -> None:
    forced = os.environ.get("TEMPER_EXTENDER_BACKEND") == "python"
    assert BACKEND is (PYTHON if forced else native())


plain_names = st.text(alphabet=PLAIN, min_size=1, max_size=12)
odd_names = st.one_of(st.text(max_size=6), st.just("x" * 253), st.just("y" * 254), st.just("a,b"),
                      st.sampled_from(['a"', '"', ",", "", "\\", "é", " a"]))
separators = st.sampled_from(['","', '","', '","', '", "', '",', ',"', ',', '""', '"'])


@st.composite
def raw_arrays(draw: st.DrawFn) -> bytes:
    """Mostly near-valid compact arrays: plain names, some odd, odd separators and ends."""
    names = draw(st.lists(st.one_of(plain_names, plain_names, plain_names, odd_names), max_size=8))
    joined = '["' + "".join(n + (draw(separators) if i < len(names) - 1 else "") for i, n in enumerate(names)) + '"]'
    raw = joined.encode()
    if draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=3)) + raw[cut:]
    return raw


@settings(max_examples=3000)
@given(st.one_of(raw_arrays(), raw_arrays(), st.binary(max_size=24),
                 st.sampled_from([b"[]", b"[ ]", b'[""]', b'["a"]', b'["a"', b'"a"]', b"[", b"", b'["a","b"]']),
                 st.lists(plain_names, max_size=6).map(orjson.dumps)))
def test_both_backends_split_the_same_names_out_of_any_bytes(raw: bytes) -> None:
    expected = plain_keys(raw)
    got = native().split_plain(raw)
    assert (None if got is None else list(got)) == expected
    if got is not None:
        assert len(got) == len(expected or [])
        assert [got[i] for i in range(-len(got), 0)] == expected


def test_a_compact_list_of_plain_names_is_split_and_anything_else_refused() -> None:
    split = native().split_plain
    names = split(b'["node-1","n.2","A_b:c"]')
    assert names is not None and list(names) == [b"node-1", b"n.2", b"A_b:c"]
    for raw in (b'["a","b",]', b'["a",""]', b'["a" ,"b"]', b'["a\\"b"]', b'["' + b"x" * 254 + b'"]', b"[1]"):
        assert split(raw) is None, raw
    with pytest.raises(IndexError):
        names[3]


keys = st.binary(min_size=0, max_size=6)


@st.composite
def render_inputs(draw: st.DrawFn) -> tuple[dict[bytes, int], list[bytes], bytearray, bytearray, int]:
    known = draw(st.lists(keys, unique=True, max_size=10))
    slots = draw(st.lists(st.integers(1, 14), unique=True, min_size=len(known), max_size=len(known)))
    mapping = dict(zip(known, slots, strict=True))
    names = draw(st.lists(st.one_of(st.sampled_from(known), keys) if known else keys, max_size=16))
    width = draw(st.integers(0, 16))
    scores = bytearray(draw(st.lists(st.one_of(st.integers(0, 10), st.integers(0, 10), st.integers(11, 255)),
                                     min_size=width, max_size=width)))
    reasons = bytearray(draw(st.lists(st.integers(0, 6), min_size=width, max_size=width)))
    if draw(st.booleans()):
        reasons = reasons[:draw(st.integers(0, width))]
    return mapping, names, scores, reasons, draw(st.integers(0, 7))


def _outcome(backend: Backend, mapping: dict[bytes, int], names: Names, scores: bytearray, reasons: bytearray,
             nreasons: int) -> tuple[bytes, list[int]] | type[Exception]:
    try:
        return backend.render(backend.snapshot(mapping), names, scores, reasons, nreasons)
    except IndexError as exc:
        return type(exc)


@settings(max_examples=3000)
@given(render_inputs())
def test_both_backends_render_the_same_reply_and_counts(
        case: tuple[dict[bytes, int], list[bytes], bytearray, bytearray, int]) -> None:
    mapping, names, scores, reasons, nreasons = case
    expected = _outcome(PYTHON, mapping, names, scores, reasons, nreasons)
    assert _outcome(native(), mapping, names, scores, reasons, nreasons) == expected
    plain = native().split_plain(orjson.dumps([n.decode("latin-1") for n in names]))
    if plain is not None and list(plain) == names:  # the same names as a PlainNames
        assert _outcome(native(), mapping, plain, scores, reasons, nreasons) == expected


def test_the_reply_is_what_orjson_encodes_and_counts_follow_the_contract() -> None:
    """Worked example of ``extender/_fastreply.c``: unknown names per occurrence, known ones once."""
    index = native().snapshot({b"a": 1, b"b": 2})
    names = native().split_plain(b'["b","a","c","b","c"]')
    assert names is not None
    body, counts = native().render(index, names, bytearray([5, 10, 3]), bytearray([3, 0, 1]), 4)
    assert body == orjson.dumps([{"Host": h, "Score": s} for h, s in
                                 [("b", 3), ("a", 10), ("c", 5), ("b", 3), ("c", 5)]])
    assert counts == [0, 1, 0, 2]


def test_a_slot_index_answers_as_its_dict_and_refuses_what_is_not_a_slot_map() -> None:
    mapping = {f"node-{i}".encode(): i + 1 for i in range(3000)}
    index = native().snapshot(mapping)
    probes = [*mapping, b"", b"node-", b"node-3000", b"node-00"]
    assert [index.get(k, 0) for k in probes] == [mapping.get(k, 0) for k in probes]
    with pytest.raises(TypeError):
        native().snapshot({"str": 1})  # type: ignore[dict-item]  # the wrong key type on purpose
    for slot in (0, -1, 2**31):
        with pytest.raises(ValueError):
            native().snapshot({b"a": slot})


def test_render_refuses_what_it_cannot_read() -> None:
    index = native().snapshot({b"a": 1})
    with pytest.raises(TypeError):
        native().render(index, [b"a", "b"], bytearray(2), bytearray(2), 1)  # type: ignore[list-item]  # on purpose
    with pytest.raises(TypeError):
        native().render({b"a": 1}, [b"a"], bytearray(2), bytearray(2), 1)
    with pytest.raises(TypeError):
        native().render(index, [b"a"], bytes(2), bytearray(2), 1)  # type: ignore[arg-type]  # on purpose

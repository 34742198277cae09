"""Workload Profile model: the BPF-form comm matcher equals Python's regex, first-match holds,
the linter catches overlap/unreachable/bad keys with the line, and tiers cap what groups get."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from temper.plan import PlanConfig, plan
from temper.pods import PodInfo, QosClass
from temper.profiles.automata import witness
from temper.profiles.comm import CommError, compile_prefix, compile_regex, match_compiled
from temper.profiles.entitle import ExclusiveRequest, carve_exclusive, resolve_treatments
from temper.profiles.kernel import PROFILE_SIZE, GroupStats, PodGroup, ThreadHint, pack_profile
from temper.profiles.model import ProfileErrors, Treatment, match_thread, parse_profile
from temper.tiers import Tier
from temper.topology import NodeTopology

ALPHABET = "ab1_-"
atoms = st.sampled_from(["a", "b", "1", "_", "-", "[ab]", "\\d", "[^a]", "."])
quantifiers = st.sampled_from(["", "", "?", "*", "+", "{1,3}", "{2}"])
patterns = st.lists(st.tuples(atoms, quantifiers), min_size=1, max_size=5).map(
    lambda parts: "".join(a + q for a, q in parts))
comms = st.text(alphabet=ALPHABET, min_size=1, max_size=15)


@settings(max_examples=300, deadline=None)
@given(patterns, st.booleans(), st.lists(comms, min_size=1, max_size=20))
def test_a_compiled_regex_matches_exactly_what_python_re_matches(pattern: str, anchored: bool,
                                                                 names: list[str]) -> None:
    source = pattern + ("$" if anchored else "")
    try:
        program = compile_regex(source)
    except CommError:
        return  # rejected patterns never reach the kernel
    for name in names:
        assert match_compiled(program, name.encode()) == bool(re.match(source, name)), (source, name)


@settings(max_examples=150, deadline=None)
@given(patterns, patterns)
def test_an_overlap_witness_is_a_name_both_programs_match(a: str, b: str) -> None:
    try:
        pa, pb = compile_regex(a), compile_regex(b)
    except CommError:
        return
    both = witness(pa, pb, True, True)
    if both is not None:
        assert match_compiled(pa, both) and match_compiled(pb, both)
    only_a = witness(pa, pb, True, False)
    if only_a is not None:
        assert match_compiled(pa, only_a) and not match_compiled(pb, only_a)


def test_ambiguous_repetitions_and_alternation_are_refused() -> None:
    for bad in (r"\d*1", "a|b", "(ab)", "x{20}", "a" * 16):
        with pytest.raises(CommError):
            compile_regex(bad)


PROFILE = """\
name: demo
version: 2
groups:
  - name: hot
    treatment: latency
    comm: {prefix: "hot-"}
  - name: bg
    treatment: yield
    comm: {regex: "bg\\\\d+$"}
"""


@given(st.text(alphabet="hotbg-12x", min_size=1, max_size=15))
def test_a_thread_takes_the_first_group_it_matches(name: str) -> None:
    profile = parse_profile(PROFILE)
    expected = 0 if name.startswith("hot-") else 1 if re.fullmatch(r"bg\d+", name) else None
    assert match_thread(profile, name.encode(), b"demo") == expected


@pytest.mark.parametrize(("body", "line", "words"), [
    ("  - name: a\n    treatment: latency\n    comm: {prefix: ab}\n"
     "  - name: b\n    treatment: yield\n    comm: {exact: abc}\n", 7, "unreachable"),
    ("  - name: a\n    treatment: latency\n    comm: {prefix: ab}\n"
     "  - name: b\n    treatment: yield\n    comm: {regex: 'a.c'}\n", 7, "overlap"),
    ("  - name: a\n    treatment: latency\n    comm: {prefix: ab}\n    colour: red\n", 7, "unknown key 'colour'"),
    ("  - name: a\n    treatment: latency\n    cores: 2\n    comm: {prefix: ab}\n", 6,
     "only applies to treatment exclusive"),
    ("  - name: a\n    treatment: turbo\n    comm: {prefix: ab}\n", 5, "unknown treatment"),
    ("  - name: a\n    treatment: normal\n    comm: {exact: C2 CompilerThread0}\n", 6, "at most 15"),
])
def test_lint_names_the_line_and_the_problem(body: str, line: int, words: str) -> None:
    with pytest.raises(ProfileErrors) as caught:
        parse_profile("name: x\nversion: 1\ngroups:\n" + body)
    assert any(e.line == line and words in e.message for e in caught.value.errors), caught.value


EXCLUSIVE = """\
name: ex
version: 1
groups:
  - name: pinned
    treatment: exclusive
    cores: 2
    comm: {exact: pinned}
  - name: rest
    treatment: latency
    comm: {prefix: w}
"""


@given(st.sampled_from(list(Tier)), st.integers(0, 16_000), st.sampled_from([1, 2]))
def test_groups_never_gain_more_than_the_pod_is_entitled_to(tier: Tier, request: int, smt: int) -> None:
    grants = resolve_treatments(parse_profile(EXCLUSIVE), tier, request, smt)
    exclusive_cores = sum(g.cores for g in grants if g.treatment is Treatment.EXCLUSIVE)
    assert exclusive_cores * 1000 * smt <= request
    if tier > Tier.HIGH:
        assert exclusive_cores == 0
    assert all(g.treatment <= g.wanted or g.wanted is Treatment.EXCLUSIVE for g in grants)


def test_exclusive_cores_come_from_the_fence_for_critical_and_never_twice() -> None:
    topology = NodeTopology.uniform(16, threads_per_core=2)
    pods = [PodInfo("a", "ns", "a", Tier.CRITICAL, 4000, None, QosClass.GUARANTEED),
            PodInfo("b", "ns", "b", Tier.HIGH, 2000, None, QosClass.BURSTABLE)]
    layer = plan(topology, pods, PlanConfig())
    carving = carve_exclusive(topology, layer, [ExclusiveRequest("a", Tier.CRITICAL, "pinned", 1),
                                                ExclusiveRequest("b", Tier.HIGH, "pinned", 1)])
    assert carving.cpus[("a", "pinned")] <= layer.fenced
    assert carving.cpus[("b", "pinned")] <= layer.shared
    assert not carving.cpus[("a", "pinned")] & carving.cpus[("b", "pinned")]


def test_map_values_have_the_fixed_sizes_the_c_structs_declare() -> None:
    profile = parse_profile(PROFILE)
    assert len(pack_profile(profile)) == PROFILE_SIZE
    assert len(PodGroup(Treatment.EXCLUSIVE, frozenset({0, 9})).pack()) == 8 + 64
    assert len(ThreadHint(7, 1, 3).pack()) == 16
    one = GroupStats(1, 2, 3, 4, 5).pack()
    assert GroupStats.unpack_sum([one, one]) == GroupStats(2, 4, 6, 8, 10)
    assert compile_prefix("x").ops[0].data == b"x"


def test_a_high_pod_never_takes_the_last_shared_core() -> None:
    topology = NodeTopology.uniform(8, threads_per_core=2)
    pods = [PodInfo("a", "ns", "a", Tier.CRITICAL, 4000, None, QosClass.GUARANTEED)]
    layer = plan(topology, pods, PlanConfig())
    carving = carve_exclusive(topology, layer, [ExclusiveRequest("b", Tier.HIGH, "pinned", 1)])
    assert "shared" in carving.refused[("b", "pinned")] and not carving.cpus

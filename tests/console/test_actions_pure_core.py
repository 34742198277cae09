"""The pure cores behind tokens, audit and drain, property-tested (no I/O, no server).

- the audit hash chain detects any edited, dropped, reordered or inserted record;
- the drain plan puts every pod in exactly one bucket and never plans more evictions under a
  PDB than its ``disruptionsAllowed``;
- label selectors follow LabelSelector semantics; the role of a set of groups is the highest.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from console.actions import converged
from console.audit import Entry, build_record, to_csv, to_jsonl, verify_chain
from console.drain import plan, selector_matches
from console.tokens import parse_group_mapping, role_for_groups

entries = st.builds(Entry, token=st.text(max_size=8), role=st.sampled_from(["viewer", "operator", "admin"]),
                    action=st.sampled_from(["cordon", "drain"]), target=st.text(max_size=12),
                    parameters=st.dictionaries(st.text(max_size=4), st.integers() | st.booleans(), max_size=3),
                    result=st.sampled_from(["allowed", "denied", "failed"]), detail=st.text(max_size=10))


def chain(items: list[Entry], anchor: str = "") -> list[dict[str, Any]]:
    records, previous = [], anchor
    for i, entry in enumerate(items, 1):
        records.append(build_record(entry, i, previous, 1000.0 + i))
        previous = records[-1]["hash"]
    return records


@given(st.lists(entries, min_size=2, max_size=8), st.data())
def test_any_change_to_the_chain_is_detected(items: list[Entry], data: st.DataObject) -> None:
    records = chain(items)
    assert verify_chain("", records)
    i = data.draw(st.integers(0, len(records) - 1))
    field = data.draw(st.sampled_from(["time", "token", "target", "detail", "parameters", "result"]))
    edited = [dict(r) for r in records]
    edited[i][field] = {"x": 1} if field == "parameters" else ("tampered" if field != "time" else 1.5)
    if edited[i][field] != records[i][field]:
        assert not verify_chain("", edited)
    assert not verify_chain("", records[:i] + records[i + 1:]) or i == len(records) - 1
    assert not verify_chain("", [records[1], records[0], *records[2:]])
    assert not verify_chain("other-anchor", records)


@given(st.lists(entries, max_size=5))
def test_exports_round_trip_every_record(items: list[Entry]) -> None:
    records = chain(items)
    assert [json.loads(line) for line in to_jsonl(records)] == records
    rows = list(csv.DictReader(io.StringIO("".join(to_csv(records)), newline="")))
    assert [(int(r["id"]), r["target"], r["detail"], json.loads(r["parameters"]), r["hash"]) for r in rows] == \
        [(r["id"], r["target"], r["detail"], r["parameters"], r["hash"]) for r in records]


labels = st.dictionaries(st.sampled_from(["app", "tier", "team"]), st.sampled_from(["a", "b"]), max_size=3)


@st.composite
def pods_and_pdbs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pods = []
    for i in range(draw(st.integers(0, 12))):
        owner = draw(st.sampled_from([None, "ReplicaSet", "DaemonSet"]))
        pods.append({"metadata": {"namespace": draw(st.sampled_from(["x", "y"])), "name": f"p{i}",
                                  "labels": draw(labels),
                                  "ownerReferences": [{"kind": owner, "controller": True}] if owner else []},
                     "status": {"phase": draw(st.sampled_from(["Running", "Succeeded"]))}})
    pdbs = [{"metadata": {"namespace": draw(st.sampled_from(["x", "y"])), "name": f"b{i}"},
             "spec": {"selector": {"matchLabels": draw(labels)}},
             "status": {"disruptionsAllowed": draw(st.integers(0, 3))}} for i in range(draw(st.integers(0, 3)))]
    return pods, pdbs


@given(pods_and_pdbs())
def test_every_pod_is_in_one_bucket_and_no_budget_is_overspent(case: tuple[list[dict[str, Any]],
                                                                           list[dict[str, Any]]]) -> None:
    pods, pdbs = case
    result = plan(pods, pdbs)
    buckets = result.evictions + [b.pod for b in result.blockers] + [s.pod for s in result.skipped]
    assert sorted(buckets) == sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods)
    by_key = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods}
    for pdb in pdbs:
        covered = [k for k in result.evictions if by_key[k]["metadata"]["namespace"] == pdb["metadata"]["namespace"]
                   and selector_matches(pdb["spec"]["selector"], by_key[k]["metadata"]["labels"])]
        assert len(covered) <= pdb["status"]["disruptionsAllowed"]
    assert all(by_key[k]["status"]["phase"] == "Running" for k in result.evictions)


def test_label_selectors_follow_the_api_semantics() -> None:
    pod = {"app": "web", "tier": "front"}
    assert selector_matches({}, pod) and not selector_matches(None, pod)
    assert selector_matches({"matchLabels": {"app": "web"}}, pod)
    assert not selector_matches({"matchLabels": {"app": "db"}}, pod)
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, pod)
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]},
                                pod)
    assert selector_matches({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, pod)
    assert not selector_matches({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, pod)
    assert not selector_matches({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}, pod)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4))
def test_the_role_of_a_set_of_groups_is_the_highest_mapped(groups: list[str]) -> None:
    mapping = {"a": "viewer", "b": "operator", "c": "admin"}
    rank = {"viewer": 0, "operator": 1, "admin": 2}
    role = role_for_groups(groups, mapping)
    mapped = [mapping[g] for g in groups if g in mapping]
    assert role == (max(mapped, key=rank.__getitem__) if mapped else None)


def test_group_flags_parse_and_reject_unknown_roles() -> None:
    assert parse_group_mapping(["system:serviceaccounts:ops=operator"]) == {"system:serviceaccounts:ops": "operator"}
    for bad in ("ops", "=admin", "ops=root"):
        try:
            parse_group_mapping([bad])
        except ValueError as exc:
            assert bad in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_convergence_needs_a_known_state() -> None:
    assert converged(True, "safe-mode") and not converged(True, "enforcing") and not converged(True, None)
    assert converged(False, "enforcing") and converged(False, "observe-only") and not converged(False, "safe-mode")
    assert not converged(False, None)

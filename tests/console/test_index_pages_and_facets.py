"""``console.index``: the faceted index agrees with a brute-force model under any sequence of
upserts and deletes, paging through it visits every matching item exactly once, in order, and
the page built from cached item encodings is byte-identical to the model's own JSON."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from console.index import Index, page, page_json
from console.models import Owner, PodPage, PodSummary


def pod(key: str, node: str, owner: str | None) -> PodSummary:
    namespace, name = key.split("/")
    return PodSummary(namespace=namespace, name=name, uid=key, node=node, phase="Running", tier="normal",
                      profile=None, request_m=0, limit_m=None, original_request_m=None,
                      owner=Owner(kind="Job", name=owner) if owner else None, containers=[])


FACETS = {"node": lambda p: p.node or None, "namespace": lambda p: p.namespace,
          "owner": lambda p: p.owner.name if p.owner else None}
keys = st.builds(lambda ns, name: f"{ns}/{name}", st.sampled_from(["a", "b", "c"]),
                 st.text("xyz", min_size=1, max_size=3))
ops = st.lists(st.tuples(st.booleans(), keys, st.sampled_from(["", "n1", "n2"]), st.sampled_from([None, "j1", "j2"])),
               max_size=60)


@settings(max_examples=200, deadline=None)
@given(ops, st.booleans())
def test_facets_match_a_brute_force_model(operations: list[tuple[bool, str, str, str | None]],
                                          start_full: bool) -> None:
    index: Index[PodSummary] = Index(FACETS)
    model: dict[str, PodSummary] = {}
    if start_full:
        model = {k: pod(k, n, o) for _, k, n, o in operations[:10]}
        index.replace(model)
    for delete, key, node, owner in operations:
        if delete:
            assert (index.delete(key) is not None) == (key in model)
            model.pop(key, None)
        else:
            index.upsert(key, pod(key, node, owner))
            model[key] = pod(key, node, owner)
    assert index.keys == sorted(model)
    for facet, value_of in FACETS.items():
        expected: dict[str, list[str]] = {}
        for key in sorted(model):
            value = value_of(model[key])
            if value is not None:
                expected.setdefault(value, []).append(key)
        assert index.by[facet] == expected


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, st.sampled_from(["", "n1", "n2"]), max_size=40), st.integers(1, 7),
       st.sampled_from([{}, {"node": "n1"}, {"namespace": "a"}, {"node": "n2", "namespace": "b"}]),
       st.sampled_from(["", "x", "yz"]))
def test_paging_visits_each_matching_item_once_in_key_order(nodes: dict[str, str], limit: int,
                                                            where: dict[str, str], q: str) -> None:
    index: Index[PodSummary] = Index(FACETS)
    index.replace({k: pod(k, n, None) for k, n in nodes.items()})
    for key in list(nodes)[:3]:  # a cached encoding must follow an update
        index.json_of(key)
        index.upsert(key, pod(key, nodes[key], "j1"))
    structural = [k for k in sorted(nodes)
                  if all(FACETS[f](index.items[k]) == v for f, v in where.items())]
    expected = [k for k in structural if q in k]
    seen: list[str] = []
    token = ""
    for _ in range(100):
        items, token_or_none, total = page(index, limit, token, q, where)
        encoded = page_json(index, limit, token, q, where)
        assert encoded == PodPage.model_validate({"items": items, "continue": token_or_none, "total": total}
                                                 ).model_dump_json(by_alias=True).encode()
        assert len(items) <= limit
        assert total == len(structural)
        seen += [f"{p.namespace}/{p.name}" for p in items]
        if token_or_none is None:
            break
        token = token_or_none
    assert seen == expected


def test_any_string_is_an_acceptable_continue_token() -> None:
    index: Index[PodSummary] = Index(FACETS)
    index.replace({k: pod(k, "n1", None) for k in ("a/x", "b/y", "c/z")})
    assert [p.name for p in page(index, 10, "b/", "", {})[0]] == ["y", "z"]
    assert page(index, 10, "\uffff", "", {})[0] == []
    assert page(index, 10, "", "", {"node": "nowhere"}) == ([], None, 0)

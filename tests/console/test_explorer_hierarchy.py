"""The hierarchy — nodes (tier load, enforcement, CPU map, per-pod layer), pods (tier, requests,
original requests), containers, workloads of every kind with their pods — served by the console
against the fake API server and fake node agents over real HTTP (no kube-apiserver exists here;
``tests.console.fakeapi`` speaks its wire format)."""

from __future__ import annotations

from typing import Any

from console.explorer_api import AGENTS
from tests.console.fakeapi import make_pod
from tests.console.harness import running_console

C = "/api/v1/clusters/local"


def as_dict(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


async def test_node_detail_has_each_pods_layer_and_the_agents_cpu_map() -> None:
    async with running_console() as r:
        node = as_dict(await r.get_json(f"{C}/nodes/node-00000"))
        assert node["agent"] == {"reachable": True, "error": None}
        layers = {p["name"]: p["layer"] for p in node["pods"]}
        assert layers["web-2-aaaaa"] == "critical/confined"
        assert layers["agent-xyz"] == "low/open"
        assert [c["cpu"] for c in node["cpu_roles"] if c["role"] == "fenced"] == [6, 7]
        assert len(node["cpu_roles"]) == 8 and node["fenced"] == "6,7"
        assert node["enforcement"]["state"] == "enforcing" and node["tiers"]["critical"]["request_m"] >= 0
        assert len(node["pods"]) == as_dict(await r.get_json(f"{C}/pods?node=node-00000"))["total"]


async def test_an_unreachable_agent_leaves_layers_null_and_the_annotations_still_show() -> None:
    async with running_console() as r:
        r.app[AGENTS].ttl_s = 0
        r.agents.down.add("node-00000")
        node = as_dict(await r.get_json(f"{C}/nodes/node-00000"))
        assert node["agent"]["reachable"] is False and "503" in node["agent"]["error"]
        assert {p["layer"] for p in node["pods"]} == {None}
        assert [c["cpu"] for c in node["cpu_roles"] if c["role"] == "fenced"] == [6, 7]
        assert node["enforcement"]["state"] == "enforcing"
        pod = as_dict(await r.get_json(f"{C}/namespaces/apps/pods/web-2-aaaaa"))
        assert pod["layer"] is None


async def test_pod_detail_shows_containers_and_the_request_the_webhook_scaled() -> None:
    async with running_console() as r:
        pod = as_dict(await r.get_json(f"{C}/namespaces/apps/pods/web-2-aaaaa"))
        assert (pod["tier"], pod["request_m"], pod["limit_m"], pod["original_request_m"]) == ("critical", 100, 200, 200)
        assert pod["owner"] == {"kind": "Deployment", "name": "web"}
        assert pod["layer"] == "critical/confined" and pod["labels"] == {"app": "web"}
        assert pod["containers"] == [{"name": "app", "image": "registry.example/app:1", "request_m": 100,
                                      "limit_m": 200, "original_request_m": 200, "ready": True, "restarts": 0,
                                      "init": False}]
        unscaled = as_dict(await r.get_json(f"{C}/namespaces/apps/pods/web-2-bbbbb"))
        assert unscaled["original_request_m"] is None
        container = as_dict(await r.get_json(f"{C}/namespaces/apps/pods/web-2-aaaaa/containers/app"))
        assert container["name"] == "app"
        for missing in (f"{C}/namespaces/apps/pods/web-2-aaaaa/containers/nope", f"{C}/namespaces/apps/pods/nope",
                        "/api/v1/clusters/elsewhere/namespaces/apps/pods/web-2-aaaaa", f"{C}/nodes/nope"):
            body = as_dict(await r.get_json(missing, status=404))
            assert body["error"]["message"]


async def test_workloads_of_each_kind_are_listed_with_their_pods() -> None:
    async with running_console() as r:
        page = as_dict(await r.get_json(f"{C}/workloads?namespace=apps"))
        summary = {(w["kind"], w["name"]): (w["replicas"], w["ready"], w["pods"]) for w in page["items"]}
        assert summary == {("Deployment", "web"): (2, 1, 2), ("StatefulSet", "db"): (1, 1, 1),
                           ("DaemonSet", "agent"): (3, 2, 1), ("Job", "batch"): (3, 1, 1)}
        jobs = as_dict(await r.get_json(f"{C}/workloads?kind=Job"))
        assert [w["name"] for w in jobs["items"]] == ["batch"] and jobs["total"] == 1
        web = as_dict(await r.get_json(f"{C}/namespaces/apps/workloads/Deployment/web"))
        assert sorted(p["name"] for p in web["pods"]) == ["web-2-aaaaa", "web-2-bbbbb"]
        await r.get_json(f"{C}/namespaces/apps/workloads/Gadget/web", status=404)
        await r.get_json(f"{C}/workloads?kind=Gadget", status=400)


async def test_pods_filter_by_node_and_namespace_and_page_with_continue() -> None:
    async with running_console(nodes=3, pods=30) as r:
        names: list[str] = []
        token = ""
        while True:
            page = as_dict(await r.get_json(f"{C}/pods?node=node-00001&limit=3&continue={token}"))
            assert len(page["items"]) <= 3 and {p["node"] for p in page["items"]} <= {"node-00001"}
            names += [f"{p['namespace']}/{p['name']}" for p in page["items"]]
            if page["continue"] is None:
                break
            token = page["continue"]
        expected = sorted(f"{ns}/{n}" for (ns, n), o in r.api.objects["pods"].items()
                          if o["spec"]["nodeName"] == "node-00001")
        assert names == expected and page["total"] == len(expected)
        both = as_dict(await r.get_json(f"{C}/pods?node=node-00000&namespace=apps&limit=1000"))
        assert both["total"] == 5 and {p["namespace"] for p in both["items"]} == {"apps"}
        assert as_dict(await r.get_json(f"{C}/pods?limit=1001", status=400))["error"]["code"] == "bad-parameter"


async def test_live_changes_update_counts_and_a_late_replicaset_resolves_its_pods_owner() -> None:
    async with running_console() as r:
        before = r.explorer.nodes.items["node-00002"].pods
        r.api.put("pods", make_pod("apps", "late-1-abcde", "node-00002", 2, owner=("ReplicaSet", "late-1"),
                                   labels={"app": "late"}))
        await r.until(lambda: r.explorer.nodes.items["node-00002"].pods == before + 1)
        pod = r.explorer.pods.items["apps/late-1-abcde"]
        assert pod.owner is not None and pod.owner.kind == "ReplicaSet"
        r.api.put("deployments", {"metadata": {"namespace": "apps", "name": "late"},
                                  "spec": {"replicas": 1}, "status": {"readyReplicas": 0}})
        r.api.put("replicasets", {"metadata": {"namespace": "apps", "name": "late-1", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "late", "uid": "u", "controller": True}]}})
        await r.until(lambda: (w := r.explorer.workloads.items.get("Deployment/apps/late")) is not None and w.pods == 1)
        owner = r.explorer.pods.items["apps/late-1-abcde"].owner
        assert owner is not None and (owner.kind, owner.name) == ("Deployment", "late")
        r.api.delete("pods", "apps", "late-1-abcde")
        await r.until(lambda: r.explorer.nodes.items["node-00002"].pods == before)
        await r.until(lambda: r.explorer.workloads.items["Deployment/apps/late"].pods == 0)


async def test_reads_are_answered_from_the_cache_without_listing_the_api_again() -> None:
    async with running_console(nodes=5, pods=50) as r:
        lists_before = {k: v for k, v in r.api.requests.items() if k[0] == "GET"}
        for _ in range(10):
            await r.get_json(f"{C}/pods?limit=5&node=node-00001")
            await r.get_json(f"{C}/nodes/node-00001")
            await r.get_json(f"{C}/workloads?kind=Deployment")
            await r.get_json(f"{C}/namespaces/apps/workloads/Deployment/web")
        lists_after = {k: v for k, v in r.api.requests.items() if k[0] == "GET"}
        assert lists_after == lists_before


async def test_the_agent_is_reached_at_its_pod_ip_else_at_the_nodes_internal_ip() -> None:
    async with running_console() as r:
        agents = r.app[AGENTS]
        port = agents.url_template.split(":")[2].split("/")[0]
        agents.url_template, agents.ttl_s = f"http://{{ip}}:{port}/{{node}}", 0
        via_node_ip = as_dict(await r.get_json(f"{C}/nodes/node-00001"))  # the fake's InternalIP is 127.0.0.1
        assert via_node_ip["agent"]["reachable"] is True
        agent_pod = make_pod("temper-system", "temper-agent-x1", "node-00001", 0,
                             labels={"app.kubernetes.io/component": "agent"})
        agent_pod["status"]["podIP"] = "127.0.0.2"  # nothing listens there: proves the pod IP is preferred
        r.api.put("pods", agent_pod)
        await r.until(lambda: r.explorer.agent_ip("node-00001") == "127.0.0.2")
        via_pod_ip = as_dict(await r.get_json(f"{C}/nodes/node-00001"))
        assert via_pod_ip["agent"]["reachable"] is False
        r.api.delete("pods", "temper-system", "temper-agent-x1")
        await r.until(lambda: r.explorer.agent_ip("node-00001") == "127.0.0.1")
        agents.url_template = ""
        unset = as_dict(await r.get_json(f"{C}/nodes/node-00001"))
        assert unset["agent"] == {"reachable": False, "error": "no node agent URL is configured (--agent-url)"}


async def test_with_the_api_server_gone_lists_still_answer_and_details_say_502() -> None:
    async with running_console() as r:
        await r.api.stop()
        assert as_dict(await r.get_json(f"{C}/pods?namespace=apps"))["total"] == 5
        for path in (f"{C}/namespaces/apps/pods/web-2-aaaaa", f"{C}/namespaces/apps/pods/web-2-aaaaa/manifest",
                     f"{C}/namespaces/apps/workloads/Deployment/web/revisions",
                     f"{C}/namespaces/apps/pods/web-2-aaaaa/logs"):
            body = as_dict(await r.get_json(path, status=502))
            assert body["error"]["code"] == "api-unavailable"


async def test_the_cache_lists_in_pages_and_holds_every_pod() -> None:
    async with running_console(nodes=4, pods=1200, workloads=False) as r:
        assert r.api.requests[("GET", "pods")] == 3  # 1,200 pods in pages of 500
        assert len(r.explorer.pods.items) == 1200
        assert sum(n.pods for n in r.explorer.nodes.items.values()) == 1200

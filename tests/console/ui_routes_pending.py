"""Paths the UI's explorer, pod, workload and savings views call that this branch's spec does
not serve yet (their routes are built on other branches of issue 14). The path test fails for an
entry once the spec serves it, so this list only shrinks: delete the entry then."""

NOT_YET_SERVED: frozenset[str] = frozenset({
    "/api/v1/events",
    "/api/v1/clusters/{}/nodes/{}",
    "/api/v1/clusters/{}/workloads",
    "/api/v1/clusters/{}/namespaces/{}/pods/{}",
    "/api/v1/clusters/{}/namespaces/{}/pods/{}/performance",
    "/api/v1/clusters/{}/namespaces/{}/pods/{}/logs",
    "/api/v1/clusters/{}/namespaces/{}/pods/{}/manifest",
    "/api/v1/clusters/{}/namespaces/{}/workloads/{}/{}",
    "/api/v1/clusters/{}/namespaces/{}/workloads/{}/{}/revisions",
    "/api/v1/clusters/{}/namespaces/{}/workloads/{}/{}/revisions/diff",
})

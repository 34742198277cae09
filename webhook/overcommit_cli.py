"""``temper overcommit report|restore``: see and undo what the webhook scaled.

Why this module exists: overcommit is only acceptable if it is visible and reversible. The
webhook records every pod's original CPU requests in an annotation; this command lists them
from the API server and puts them back.

Usage::

    temper overcommit report  [-n NAMESPACE] [--json] [--config F] [--kubeconfig F | --server URL]
    temper overcommit restore [-n NAMESPACE] [--dry-run] [--config F] [--kubeconfig F | --server URL]

``--config`` is the webhook's config file (its ``webhook:`` section; default: the built-in
factors and floor). The annotations are writable by the pod's owner, so only what the webhook
could have written under that policy is restored (``webhook.restore``); any other pod is
listed with the reason and left alone.

``restore`` uses the ``pods/resize`` subresource when the server is 1.33+ (read from
``/version``); older clusters cannot change a running pod's requests, so it explains the
alternative instead: disable the webhook (remove the namespace label
``infera.io/overcommit=enabled``), then ``kubectl rollout restart`` the workloads — new pods
get their original requests from the workload template.

Exit codes: 0 done (or nothing to do), 1 some pods could not be restored (listed), 2 error
(arguments, API unreachable, API error).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
import orjson

from temper import clikit
from temper.kube.client import ApiClient, ApiConfig, ApiError, auto_config
from temper.kube.podpatch import RESIZE_MIN_VERSION, list_pods, patch_pod_annotations, resize_pod, server_version
from webhook.manifest import OPT_IN_LABEL, OPT_IN_VALUE
from webhook.policy import FACTOR_ANNOTATION, ORIGINALS_ANNOTATION, PolicyConfig
from webhook.restore import ScaledPod, restore_plan, scaled_pod
from webhook.settings import load_webhook_settings

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temper overcommit", description="report or restore scaled pods")
    parser.add_argument("action", choices=("report", "restore"))
    parser.add_argument("-n", "--namespace", help="one namespace (default: all)")
    parser.add_argument("--json", action="store_true", help="report: JSON lines instead of a table")
    parser.add_argument("--dry-run", action="store_true", help="restore: print what would change")
    clikit.add_config(parser, "the webhook: section, whose factors and floor decide which annotations "
                              "the webhook could have written; default: built-in")
    clikit.add_kubeconfig(parser)
    parser.add_argument("--server", help="API server URL without credentials (e.g. kubectl proxy)")
    return parser


def main(argv: list[str]) -> int:
    return asyncio.run(run(argv))


async def run(argv: list[str], api: ApiConfig | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        policy = load_webhook_settings(args.config).policy
        config = api or (ApiConfig(base_url=args.server.rstrip("/")) if args.server else auto_config(args.kubeconfig))
        async with ApiClient(config) as client:
            pods = await list_pods(client, args.namespace)
            rows = [row for row in (scaled_pod(pod, policy) for pod in pods) if row is not None]
            if args.action == "report":
                _report(rows, args.json)
                return EXIT_OK
            return await _restore(client, pods, policy, args.dry_run)
    except (ApiError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        sys.stderr.write(f"temper overcommit: {exc}\n")
        return EXIT_ERROR


def _report(rows: list[ScaledPod], as_json: bool) -> None:
    if as_json:
        for row in rows:
            sys.stdout.write(orjson.dumps(row.as_json()).decode() + "\n")
        return
    table = [("NAMESPACE", "POD", "TIER", "FACTOR", "CONTAINER", "ORIGINAL", "CURRENT")]
    for row in rows:
        if row.problem:
            table.append((row.namespace, row.name, row.tier, row.factor, "-", row.problem, "-"))
        for c in row.containers:
            table.append((row.namespace, row.name, row.tier, row.factor, c.container, c.original, c.current))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n")
    sys.stdout.write(f"{len(rows)} scaled pod(s)\n")


async def _restore(client: ApiClient, pods: list[dict[str, object]], policy: PolicyConfig, dry_run: bool) -> int:
    plans = [plan for plan in (restore_plan(pod, policy) for pod in pods) if plan is not None]
    if not plans:
        print("no scaled pods: nothing to restore")
        return EXIT_OK
    version = await server_version(client)
    if version < RESIZE_MIN_VERSION:
        print(f"this cluster is {version[0]}.{version[1]}: in-place resize (pods/resize) needs "
              f"{RESIZE_MIN_VERSION[0]}.{RESIZE_MIN_VERSION[1]}+, so {len(plans)} pod(s) cannot be restored "
              f"in place.\nTo restore: disable the webhook (remove the label {OPT_IN_LABEL}={OPT_IN_VALUE} from "
              "the namespaces, or delete the MutatingWebhookConfiguration), then `kubectl rollout restart` "
              "the owning workloads; new pods get their original requests from the workload template.")
        return EXIT_PARTIAL
    failed = 0
    for plan in plans:
        pod = f"{plan.pod.namespace}/{plan.pod.name}"
        if plan.patch is None:
            failed += 1
            print(f"{pod}: not restored: {plan.reason}")
            continue
        if dry_run:
            print(f"{pod}: would resize with {orjson.dumps(plan.patch).decode()}")
            continue
        try:
            await resize_pod(client, plan.pod.namespace, plan.pod.name, plan.patch)
            await patch_pod_annotations(client, plan.pod.namespace, plan.pod.name,
                                        {ORIGINALS_ANNOTATION: None, FACTOR_ANNOTATION: None})
        except ApiError as exc:
            failed += 1
            print(f"{pod}: not restored: {exc}")
            continue
        print(f"{pod}: restored " + ", ".join(f"{c.container}={c.original}" for c in plan.pod.containers))
    return EXIT_PARTIAL if failed else EXIT_OK

"""End to end: ``temper agent serve --pods-file ... --observe-only --listen 127.0.0.1:0`` runs as a
real process over generated sysfs and cgroup trees, with no API server; we scrape it over
HTTP, change the pods file, and stop it with SIGTERM."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import cbor2
import pytest

from tests.nodeagent.harness import make_node

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, accept: str = "*/*") -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


@pytest.mark.tools
def test_the_standalone_agent_serves_plans_that_follow_the_pods_file(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web", "high", usage_usec=1000)
    config = tmp_path / "agent.yaml"
    config.write_text("agent:\n  scanIntervalSeconds: 0.2\n")
    log = (tmp_path / "agent.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "temper.cli", "agent", "serve", "--config", str(config),
         "--pods-file", str(node.pods_file), "--sysfs-root", str(node.sysfs_root),
         "--cgroup-root", str(node.cgroup_root), "--observe-only",
         "--listen", "127.0.0.1:0", "--node-name", "node-a"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        port: list[str] = []

        def listening() -> bool:
            log.seek(0)
            port[:] = re.findall(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
            assert process.poll() is None, log.read()
            return bool(port)

        _wait_for(listening)
        base = f"http://127.0.0.1:{port[0]}"
        _wait_for(lambda: _get(base + "/readyz")[0] == 200)
        assert _get(base + "/healthz")[0] == 200
        status, metrics = _get(base + "/metrics")
        assert status == 200 and b'temper_agent_enforcement_state{state="observe-only"} 1.0' in metrics
        promtool = shutil.which("promtool")
        assert promtool, "promtool comes with Debian's prometheus package"
        lint = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, check=False)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        document = json.loads(_get(base + "/observe")[1])
        assert document["plan"]["fenced"] == "" and document["tiers"]["high"]["pods"] == 1
        assert cbor2.loads(_get(base + "/observe", "application/cbor")[1])["plan"] == document["plan"]

        node.add_pod("db", "critical", "1500m")
        _wait_for(lambda: json.loads(_get(base + "/observe")[1])["plan"]["fenced"] == "6-7")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def _imported_by_agent_main(prefixes: tuple[str, ...]) -> list[str]:
    code = ("import sys, nodeagent.main;"
            f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return list(json.loads(result.stdout.strip().replace("'", '"')))


def test_the_pods_file_path_imports_neither_the_api_client_nor_the_enforcer() -> None:
    assert _imported_by_agent_main(("temper.kube", "nodeagent.bpf_enforcer")) == []


def test_the_pods_file_path_does_not_import_the_kubernetes_package() -> None:
    assert _imported_by_agent_main(("kubernetes",)) == []


def test_bad_flags_and_config_exit_2_with_a_reason(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("agent:\n  scanIntervalSecond: 2\n")
    result = subprocess.run([sys.executable, "-m", "temper.cli", "agent", "serve", "--config", str(config),
                             "--pods-file", "x"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "scanIntervalSecond" in result.stderr

"""``temper rightsize`` end to end: saved documents and a live (fake) agent in, table and JSON
out; bad input is one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from temper.rightsize_cli import main
from tests.core.rightsize_scenarios import PodTrack, api_pod, documents, hpa
from tests.core.test_rightsize_golden import saturated_thread_track


def write_lines(path: Path, tracks: list[PodTrack], *, envelope: bool = True, **kwargs: Any) -> Path:
    docs = documents(tracks, **kwargs)
    path.write_text("".join(json.dumps({"taken_at": d.taken_at, "source": d.source, "observe": d.body}
                                       if envelope else d.body) + "\n" for d in docs))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "temper.cli", "rightsize", *args], capture_output=True, text=True,
                          check=False)


def test_saved_documents_give_the_exclusive_core_recommendation_as_json(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lines(tmp_path / "run.jsonl", [saturated_thread_track()])
    assert main(["--from", str(path), "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (rec,) = out["recommendations"]
    assert rec["kind"] == "exclusive_core_profile"
    assert rec["evidence"]["samples"] == 40 and rec["evidence"]["percentile"] == 95.0
    assert rec["confidence"]["level"] in ("high", "medium", "low")
    assert out["policy"]["margin_pct"] == 15.0


def test_the_table_names_scope_kind_and_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tracks = [PodTrack(f"uid-web-{i}", f"web-7f9c-{i}", [500.0 + (k % 11) * 10 for k in range(40)]) for i in range(2)]
    pods = tmp_path / "pods.json"
    pods.write_text(json.dumps({"items": [api_pod(f"uid-web-{i}", f"web-7f9c-{i}", owner=("ReplicaSet", "web-7f9c"),
                                                  template_hash="7f9c") for i in range(2)]}))
    hpas = tmp_path / "hpa.json"
    hpas.write_text(json.dumps({"items": [hpa("web", "web", 60)]}))
    path = write_lines(tmp_path / "run.jsonl", tracks)
    assert main(["--from", str(path), "--pods-json", str(pods), "--hpa-json", str(hpas)]) == 0
    out = capsys.readouterr().out
    assert "Deployment/default/web" in out and "hpa_aware" in out and "HPA target 87%" in out
    assert "hpa: HPA default/web: target 60% -> 87%" in out


def test_bare_documents_without_a_time_are_spaced_by_the_interval_and_said_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lines(tmp_path / "bare.jsonl", [PodTrack("uid-s", "s-0", [100.0] * 30)], envelope=False,
                       threads=False)
    assert main(["--from", str(path), "--interval", "30", "--output", "json"]) == 0
    captured = capsys.readouterr()
    assert "30 document(s) without a time, spaced 30s apart" in captured.err
    assert json.loads(captured.out)["recommendations"][0]["values"]["request_m"] == 115
    assert "no --pods-json" in captured.err


class FakeAgent(http.server.BaseHTTPRequestHandler):
    body = b""
    paths: list[str] = []  # noqa: RUF012 - shared by the test and the handler thread on purpose

    def do_GET(self) -> None:
        FakeAgent.paths.append(self.path)
        self.send_response(200 if self.path == "/observe" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(FakeAgent.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def agent_url() -> Iterator[str]:
    doc = documents([PodTrack("uid-l", "live-0", [250.0])], threads=False)[0]
    FakeAgent.body, FakeAgent.paths = json.dumps(dict(doc.body)).encode(), []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAgent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_live_agent_is_fetched_repeatedly_and_the_run_saved_for_replay(
        agent_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "saved.jsonl"
    assert main(["--agent", agent_url, "--samples", "3", "--interval", "0", "--save", str(saved),
                 "--min-samples", "3", "--output", "json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)["recommendations"]
    assert rec["values"]["request_m"] == 290 and rec["evidence"]["samples"] == 3
    assert FakeAgent.paths == ["/observe"] * 3
    assert len(saved.read_text().splitlines()) == 3
    assert main(["--from", str(saved), "--min-samples", "3", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["recommendations"][0]["values"]["request_m"] == 290


def test_too_few_live_samples_are_refused_in_the_table(agent_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--agent", agent_url + "/", "--samples", "2", "--interval", "0"]) == 0
    out = capsys.readouterr().out
    assert "refused" in out and "2 usable samples" in out


@pytest.mark.parametrize(("content", "extra", "message"), [
    ("{not json\n", [], "run.jsonl:1: not JSON"),
    ('[1, 2]\n', [], "run.jsonl:1: not a JSON object"),
    ('{"observe": {"node": "x"}, "taken_at": 1}\n', [], "not an /observe document (no pods list)"),
    ('{"pods": [], "threads": {"schema": "temper.threads/v9", "taken_at": 1, "pods": {}}}\n', [],
     "expected 'temper.threads/v1'"),
    ('{"pods": []}\n', ["--percentile", "0"], "policy: out of range: percentile"),
    ('{"pods": []}\n', ["--window", "soon"], "not a duration"),
    ('{"pods": []}\n', ["--hpa-json", "/nonexistent/hpa.json"], "cannot read HPA JSON"),
    ("", [], "no /observe documents"),
    ('{"pods": []}\n', ["--percentile", "high"], "argument --percentile: invalid float value"),
    ('{"pods": []}\n', ["--output", "yaml"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str, extra: list[str], message: str) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(content)
    result = run_cli("--from", str(path), *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_pod_list_that_is_not_a_list_and_an_unreachable_agent_are_exit_2(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "run.jsonl", [PodTrack("uid-s", "s-0", [100.0] * 12)])
    pods = tmp_path / "pods.json"
    pods.write_text('{"kind": "Pod"}')
    result = run_cli("--from", str(path), "--pods-json", str(pods))
    assert result.returncode == 2 and "pods JSON: not a Kubernetes List" in result.stderr
    result = run_cli("--agent", "http://127.0.0.1:9", "--samples", "1", "--timeout", "2")
    assert result.returncode == 2 and "http://127.0.0.1:9/observe" in result.stderr
    assert "Traceback" not in result.stderr


def test_rightsize_is_a_temper_command() -> None:
    result = subprocess.run([sys.executable, "-m", "temper.cli", "--help"], capture_output=True, text=True,
                            check=False)
    assert "rightsize" in result.stdout

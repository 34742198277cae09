"""The SQLite store is safe to kill: a writer SIGKILLed mid-stream leaves every committed record,
no partial one, and an intact hash chain; an unusable store file is refused at start (exit 2).

No API server involved: the writer is a child process appending through ``console.store``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.audit import verify_chain
from console.main import main
from console.store import SCHEMA_VERSION, Store

WRITER = """
import sys, time
from console.audit import Entry, build_record
from console.store import Store
store = Store(sys.argv[1])
i = 0
while True:
    i += 1
    store.append_audit(lambda n, h: build_record(Entry("t", "admin", "cordon", f"n{i}", {"i": i}), n, h, time.time()))
    if i == 50:
        print("ready", flush=True)
"""


def test_a_killed_writer_leaves_a_complete_verifiable_log(tmp_path: Path) -> None:
    path = tmp_path / "console.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    store = Store(str(path))
    records = [r for batch in store.audit_range(None, None) for r in batch]
    assert len(records) >= 50
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    assert [r["parameters"]["i"] for r in records] == list(range(1, len(records) + 1))
    assert verify_chain(store.anchor(), records)
    assert store.schema_version() == SCHEMA_VERSION


def test_an_unusable_store_is_a_bad_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "not-a-db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    assert main(["serve", "--store", str(garbage), "--api-url", "http://127.0.0.1:9"]) == 2
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    assert main(["serve", "--store", str(newer), "--api-url", "http://127.0.0.1:9"]) == 2
    assert "newer than this build" in capsys.readouterr().err
    assert main(["serve", "--store", str(tmp_path / "no" / "such" / "dir.db"), "--api-url", "http://x:1"]) == 2

"""The real node agent as a guest process, with its in-guest API server (stdlib + aiohttp).

Shared by the scenarios that run ``temper agent``: hybrid mode (pods from a file written
here, annotations and safe mode through ``kernellab.guest.fakeapi``), fast scan and poll
intervals so checks finish quickly under emulation, and its log kept for failure records.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from kernellab.guest.fakeapi import FakeApi

RUN = Path("/run/temper-lab")
LISTEN = "127.0.0.1:9470"
ENFORCEMENT = "infera.io/enforcement"
SAFE_MODE = "infera.io/safe-mode-requested"


class GuestAgent:
    def __init__(self, pods: dict[str, Any], extra_config: dict[str, Any] | None = None,
                 observe_only: bool = False) -> None:
        RUN.mkdir(parents=True, exist_ok=True)
        self.api = FakeApi("lab", ("temper", "agent"))
        self.api.start()
        kubeconfig = self.api.kubeconfig(RUN / "kubeconfig")
        config = RUN / "config.yaml"
        agent_section: dict[str, Any] = {
            "bpfObject": "/lab/bpf/build/temper.bpf.o", "pinDir": "/sys/fs/bpf/temper",
            "scanIntervalSeconds": 0.5, "safeModePollSeconds": 0.5, "publish": {"maxAgeSeconds": 5}}
        agent_section.update(extra_config or {})
        config.write_text(json.dumps({"agent": agent_section}))
        self.pods_file = RUN / "pods.json"
        self.write_pods(pods)
        self.argv = [sys.executable, "-m", "temper.cli", "agent", "serve", "--pods-file", str(self.pods_file),
                     "--kubeconfig", str(kubeconfig), "--node-name", "lab", "--configmap", "temper/agent",
                     "--listen", LISTEN, "--config", str(config)]
        if observe_only:
            self.argv.append("--observe-only")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = RUN / "agent.log"

    def write_pods(self, pods: dict[str, Any]) -> None:
        tmp = self.pods_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pods))
        tmp.replace(self.pods_file)

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log)
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def enforcement_state(self) -> str:
        raw = self.api.annotations().get(ENFORCEMENT)
        return str(json.loads(raw).get("state", "")) if raw else ""

    @staticmethod
    def get(path: str) -> bytes:
        with urllib.request.urlopen(f"http://{LISTEN}{path}", timeout=10) as response:
            data: bytes = response.read()
            return data

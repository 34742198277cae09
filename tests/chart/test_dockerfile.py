"""The Dockerfile stays in step with the repository (no container engine runs here, so these
static checks plus CI running the same scripts are what prove it): the build stage runs exactly
the scripts CI runs, every package pyproject installs is copied into the runtime stage, and the
BPF object lands where the agent's config looks for it."""

from __future__ import annotations

import re
import tomllib

from temper.config import AgentConfig
from tests.chart.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages() -> dict[str, str]:
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\w+)\s*$", DOCKERFILE, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_build_stage_runs_the_scripts_ci_runs() -> None:
    build = stages()["build"]
    for script in ("scripts/setup.sh", "scripts/build-bpf.sh"):
        assert f"bash {script}" in build
        assert (ROOT / script).is_file(), f"{script} is missing"


def test_runtime_stage_installs_every_package_without_dev_extras() -> None:
    runtime = stages()["runtime"]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY --from=build /src/(\w+) /tmp/temper-src/\1$", runtime, flags=re.MULTILINE))
    assert copied == packages
    assert "pip install --no-cache-dir --disable-pip-version-check /tmp/temper-src" in runtime
    assert "[dev]" not in runtime
    assert "bpftool" in runtime


def test_bpf_object_is_installed_where_the_agent_loads_it() -> None:
    assert f"COPY --from=build /src/bpf/build/temper.bpf.o {AgentConfig().bpf_object}" in stages()["runtime"]

"""The Dockerfile stays in step with the repository (no container engine runs here, so these
static checks plus CI running the same scripts are what prove it): the build stage runs exactly
the scripts CI runs, the runtime stage installs the wheel the build stage built from the whole
tree (with the extender's C extension), and the BPF object lands where the agent's config
looks for it."""

from __future__ import annotations

import re

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


def test_runtime_stage_installs_the_wheel_built_from_the_whole_tree_without_dev_extras() -> None:
    """The build stage builds one wheel from the whole tree (every package pyproject finds, and
    the extender's C extension, compiled where the compiler is); the runtime stage, which has
    no compiler, installs that wheel and fails the image if the extension did not build."""
    build, runtime = stages()["build"], stages()["runtime"]
    assert "pip wheel --no-deps --no-cache-dir --disable-pip-version-check -w /wheels .\n" in build
    assert "COPY --from=build /wheels /tmp/wheels" in runtime
    assert "pip install --no-cache-dir --disable-pip-version-check /tmp/wheels/temper-*.whl" in runtime
    assert "python3 -c 'import extender._fastreply'" in runtime
    assert "/src/" not in runtime.replace("/src/bpf/build/temper.bpf.o", "")  # nothing else from the tree
    assert "[dev]" not in runtime
    assert "bpftool" in runtime


def test_bpf_object_is_installed_where_the_agent_loads_it() -> None:
    assert f"COPY --from=build /src/bpf/build/temper.bpf.o {AgentConfig().bpf_object}" in stages()["runtime"]

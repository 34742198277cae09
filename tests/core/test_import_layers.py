"""The package layering in docs/architecture.md holds (import-linter contracts in pyproject)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is a dev dependency (pip install -e .[dev])"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pure_core_imports_no_component_at_runtime() -> None:
    code = ("import sys, temper.plan, temper.render, temper.annotations, temper.cli, temper.config;"
            "bad=[m for m in sys.modules if m.split('.')[0] in "
            "('extender','webhook','nodeagent','certs','kernellab','aiohttp')];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_temper_kube_talks_to_the_api_server() -> None:
    """The kubernetes client is used for quantities (temper.quantity) and API access only in
    temper.kube; components reach the API server through temper.kube."""
    import ast

    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("tests/", "temper/kube/", "benchmarks/", "build/")) or rel == "temper/quantity.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "kubernetes" or n.startswith("kubernetes.") for n in names):
                offenders.append(rel)
    assert offenders == []

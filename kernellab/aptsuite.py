"""A private apt configuration that reaches other Debian suites without touching the host.

Why it exists: the lab needs packages from trixie, trixie-backports, sid and
bookworm-backports (a sched_ext kernel, QEMU >= 10, a guest userspace) while the host is
Debian 12.  Instead of editing the host's apt sources we point ``APT_CONFIG`` at a file
of our own whose state, cache, source list and status file live in the lab cache, and we
reuse the mirror URI the host is already configured with (never a hard-coded host name).

Invariants:
- the mirror URI is derived at run time from ``/etc/apt/sources.list.d/*.sources``
  (deb822 ``URIs:``) or ``/etc/apt/sources.list`` (one-line format);
- the private dpkg status file is empty, so dependency resolution lists every package
  a guest needs, and nothing is ever installed on the host through this configuration;
- ``trixie`` is the default release: candidates come from trixie unless a package is
  asked for from another suite explicitly (``pkg/suite``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kernellab.cache import locked

SUITES: tuple[str, ...] = ("trixie", "trixie-backports", "sid", "bookworm-backports")
DEFAULT_RELEASE = "trixie"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class AptError(RuntimeError):
    """An apt command failed or the host's sources name no usable mirror."""


def _uri_is_main_archive(uri: str, suites: Iterable[str]) -> bool:
    if "security" in uri:
        return False
    return not any(s.endswith("-security") for s in suites)


def mirror_from_deb822(text: str) -> str | None:
    """First ``URIs:`` of a deb822 stanza that serves the main archive (not security)."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if ":" in line and not line[0].isspace():
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "deb").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = fields.get("suites", "").split()
        for uri in fields.get("uris", "").split():
            if _uri_is_main_archive(uri, suites):
                return uri.rstrip("/")
    return None


def mirror_from_one_line(text: str) -> str | None:
    """First ``deb URI suite ...`` line of a one-line sources file serving the main archive."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[4:].strip()
        if rest.startswith("["):
            rest = rest[rest.index("]") + 1 :].strip()
        parts = rest.split()
        if len(parts) >= 2 and _uri_is_main_archive(parts[0], [parts[1]]):
            return parts[0].rstrip("/")
    return None


def host_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian mirror URI the host's own apt sources use."""
    parts_dir = etc_apt / "sources.list.d"
    if parts_dir.is_dir():
        for f in sorted(parts_dir.glob("*.sources")):
            uri = mirror_from_deb822(f.read_text())
            if uri:
                return uri
        for f in sorted(parts_dir.glob("*.list")):
            uri = mirror_from_one_line(f.read_text())
            if uri:
                return uri
    main = etc_apt / "sources.list"
    if main.is_file():
        uri = mirror_from_one_line(main.read_text())
        if uri:
            return uri
    raise AptError(f"no Debian main-archive mirror found in {etc_apt} sources")


def render_sources(mirror: str, suites: Sequence[str] = SUITES) -> str:
    """deb822 sources for the private configuration."""
    return (
        "Types: deb\n"
        f"URIs: {mirror}\n"
        f"Suites: {' '.join(suites)}\n"
        "Components: main\n"
        f"Signed-By: {KEYRING}\n"
    )


def render_apt_conf(root: Path) -> str:
    """apt.conf text confining apt's state, cache and sources to ``root``."""
    return "\n".join(
        [
            f'Dir::State "{root}/state";',
            f'Dir::State::status "{root}/state/status";',
            f'Dir::Cache "{root}/cache";',
            f'Dir::Etc::SourceList "{root}/sources.list";',
            f'Dir::Etc::SourceParts "{root}/sources.list.d";',
            f'Dir::Etc::Preferences "{root}/preferences";',
            f'Dir::Etc::PreferencesParts "{root}/preferences.d";',
            'APT::Architecture "amd64";',
            'APT::Architectures { "amd64"; };',
            f'APT::Default-Release "{DEFAULT_RELEASE}";',
            'APT::Install-Recommends "false";',
            'APT::Install-Suggests "false";',
            'Acquire::Languages "none";',
            'APT::Sandbox::User "root";',
            'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
            "",
        ]
    )


@dataclass(frozen=True)
class PrivateApt:
    """Handle on the private apt configuration under ``root``."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "apt.conf"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["APT_CONFIG"] = str(self.conf)
        env["DEBIAN_FRONTEND"] = "noninteractive"
        env["LC_ALL"] = "C"
        return env

    def setup(self, mirror: str | None = None) -> None:
        """Write the configuration files (idempotent)."""
        mirror = mirror or host_mirror()
        for d in ("state/lists/partial", "cache/archives/partial", "sources.list.d",
                  "preferences.d"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        status = self.root / "state" / "status"
        if not status.exists():
            status.write_text("")
        (self.root / "sources.list").write_text("")
        (self.root / "sources.list.d" / "lab.sources").write_text(render_sources(mirror))
        self.conf.write_text(render_apt_conf(self.root))

    @property
    def _memo_file(self) -> Path:
        return self.root / "query-cache.json"

    def query(self, args: Sequence[str]) -> str:
        """A read-only apt query, memoised until the next real ``apt-get update``.

        apt rebuilds its cache of four suites' package lists on every call (seconds);
        the answers only change when the lists do.
        """
        key = "\0".join(args)
        try:
            memo: dict[str, str] = json.loads(self._memo_file.read_text())
        except (OSError, ValueError):
            memo = {}
        if key not in memo:
            memo[key] = self.run(args)
            tmp = self._memo_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, self._memo_file)
        return memo[key]

    def run(self, args: Sequence[str], *, capture: bool = True,
            cwd: Path | None = None) -> str:
        """Run an apt tool with the private configuration; return stdout."""
        proc = subprocess.run(
            list(args), env=self.env(), cwd=cwd, text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None, check=False,
        )
        if proc.returncode != 0:
            err = proc.stderr if capture else ""
            raise AptError(f"{' '.join(args)} failed ({proc.returncode}): {err}")
        return proc.stdout if capture else ""

    def update(self, *, max_age_s: float = 6 * 3600) -> None:
        """``apt-get update`` unless the lists are younger than ``max_age_s``."""
        stamp = self.root / "state" / "updated.stamp"

        if stamp.exists() and time.time() - stamp.stat().st_mtime < max_age_s:
            return
        with locked(self.root.parent, "apt"):
            print("kernellab: apt-get update (private configuration)", file=sys.stderr)
            self.run(["apt-get", "update", "-q"], capture=False)
            self._memo_file.unlink(missing_ok=True)
            stamp.write_text("ok\n")

    def search_names(self, pattern: str) -> list[str]:
        out = self.query(["apt-cache", "search", "--names-only", pattern])
        return sorted({line.split(" ", 1)[0] for line in out.splitlines() if line})

    def versions(self, package: str) -> list[tuple[str, str]]:
        """(version, suite) pairs apt knows for ``package``."""
        out = self.query(["apt-cache", "madison", package])
        res: list[tuple[str, str]] = []
        for line in out.splitlines():
            cols = [c.strip() for c in line.split("|")]
            if len(cols) >= 3 and cols[0] == package:
                toks = cols[2].split()
                suite = toks[1].split("/")[0] if len(toks) >= 2 else cols[2]
                res.append((cols[1], suite))
        return res

    def resolve(self, requests: Sequence[str]) -> list[tuple[str, str]]:
        """Resolve ``requests`` (``pkg`` or ``pkg/suite``) with all dependencies.

        Uses a simulated install against the empty private status file, so the result
        is the complete closure of Depends/Pre-Depends (no Recommends), as
        ``(package, version)`` pairs.
        """
        out = self.query(["apt-get", "-s", "-q", "install", *requests])
        res: list[tuple[str, str]] = []
        for line in out.splitlines():
            m = re.match(r"^Inst (\S+) \((\S+) ", line)
            if m:
                res.append((m.group(1), m.group(2)))
        return res

    def download(self, pkgs: Sequence[tuple[str, str]], pool: Path) -> list[Path]:
        """Download ``(package, version)`` debs into ``pool`` (cached, atomic per file)."""
        pool.mkdir(parents=True, exist_ok=True)
        missing = [(p, v) for p, v in pkgs if not _deb_in_pool(pool, p, v)]
        if missing:
            with tempfile.TemporaryDirectory(dir=pool, prefix=".dl.") as tmp:
                print(f"kernellab: downloading {len(missing)} packages", file=sys.stderr)
                self.run(["apt-get", "download", "-q", *(f"{p}={v}" for p, v in missing)],
                         capture=False, cwd=Path(tmp))
                for f in Path(tmp).glob("*.deb"):
                    os.replace(f, pool / f.name)
        found = []
        for p, v in pkgs:
            deb = _deb_in_pool(pool, p, v)
            if deb is None:
                raise AptError(f"{p}={v} not downloaded")
            found.append(deb)
        return found


def _deb_version_in_name(version: str) -> str:
    # apt-get download names files NAME_VERSION_ARCH.deb with ':' escaped as %3a.
    return version.replace(":", "%3a")


def _deb_in_pool(pool: Path, package: str, version: str) -> Path | None:
    for arch in ("amd64", "all"):
        f = pool / f"{package}_{_deb_version_in_name(version)}_{arch}.deb"
        if f.is_file():
            return f
    return None


def extract_deb(deb: Path, dest: Path) -> None:
    """``dpkg-deb -x`` a package into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None

"""The private apt configuration reuses the host's mirror, never a hard-coded one."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernellab.aptsuite import (
    AptError,
    host_mirror,
    mirror_from_deb822,
    mirror_from_one_line,
    render_apt_conf,
    render_sources,
)

DEB822 = """Types: deb
# a comment
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def test_deb822_picks_the_main_archive_not_security() -> None:
    assert mirror_from_deb822(DEB822) == "http://mirror.example/debian"


def test_deb822_skips_disabled_and_source_stanzas() -> None:
    text = ("Types: deb-src\nURIs: http://a.example/x\nSuites: bookworm\n\n"
            "Enabled: no\nTypes: deb\nURIs: http://b.example/x\nSuites: bookworm\n\n"
            "Types: deb\nURIs: http://c.example/debian\nSuites: bookworm\n")
    assert mirror_from_deb822(text) == "http://c.example/debian"


def test_one_line_format_with_options_and_comments() -> None:
    text = ("# deb http://old.example/debian bookworm main\n"
            "deb http://sec.example/debian-security bookworm-security main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main\n")
    assert mirror_from_one_line(text) == "http://m.example/debian"


def test_host_mirror_prefers_deb822_parts(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list").write_text("deb http://other.example/debian bookworm main\n")
    assert host_mirror(tmp_path) == "http://mirror.example/debian"


def test_host_mirror_falls_back_to_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://other.example/debian bookworm main\n")
    assert host_mirror(tmp_path) == "http://other.example/debian"


def test_no_mirror_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AptError):
        host_mirror(tmp_path)


def test_private_config_confines_apt_state_to_its_root(tmp_path: Path) -> None:
    conf = render_apt_conf(tmp_path)
    for key in ("Dir::State ", "Dir::State::status", "Dir::Cache ", "Dir::Etc::SourceList",
                "Dir::Etc::SourceParts"):
        line = next(ln for ln in conf.splitlines() if ln.startswith(key))
        assert str(tmp_path) in line
    sources = render_sources("http://m.example/debian")
    assert "trixie trixie-backports sid bookworm-backports" in sources

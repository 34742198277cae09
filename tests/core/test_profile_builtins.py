"""Golden tests: real thread names of each shipped program land in the expected group, and
profile selection explains every decision."""

from __future__ import annotations

import pytest

from temper.profile_cli import main as profile_main
from temper.profiles.builtins import builtin_profiles
from temper.profiles.model import match_thread, parse_profile, to_yaml
from temper.profiles.select import normalize_image, pod_profile_inputs, select_profile

GOLDEN = [
    ("mysql", "ib_log_writer", b"mysqld", "redo-log"), ("mysql", "ib_io_rd-3", b"mysqld", "read-io"),
    ("mysql", "ib_io_wr-1", b"mysqld", "write-io"), ("mysql", "ib_pg_flush_co", b"mysqld", "page-flush"),
    ("mysql", "ib_srv_purge", b"mysqld", "purge"), ("mysql", "ib_srv_wkr-2", b"mysqld", "purge"),
    ("mysql", "connection", b"mysqld", None),
    ("pytorch", "pt_data_worker", b"python", "dataloader"), ("pytorch", "pt_data_pin", b"python", "pin-memory"),
    ("pytorch", "pt_autograd_0", b"python", "autograd"), ("pytorch", "pt_main_thread", b"python", "main"),
    ("memcached", "mc-worker", b"memcached", "workers"), ("memcached", "mc-lrumaint", b"memcached", "lru-maintainer"),
    ("memcached", "mc-itemcrawler", b"memcached", "item-crawler"),
    ("memcached", "mc-slabmaint", b"memcached", "slab-rebalance"),
    ("redis", "redis-server", b"redis-server", "main"), ("redis", "io_thd_3", b"redis-server", "io-threads"),
    ("redis", "bio_lazy_free", b"redis-server", "background-io"),
    ("redis", "valkey-server", b"valkey-server", "valkey-main"),
    ("jvm", "GC Thread#3", b"java", "stw-gc"), ("jvm", "G1 Conc#0", b"java", "concurrent-gc"),
    ("jvm", "C2 CompilerThre", b"java", "jit"), ("jvm", "http-nio-8080-e", b"java", None),
]


@pytest.mark.parametrize(("profile", "comm", "process", "group"), GOLDEN)
def test_a_real_thread_name_lands_in_its_group(profile: str, comm: str, process: bytes, group: str | None) -> None:
    chosen = builtin_profiles()[profile]
    index = match_thread(chosen, comm.encode(), process)
    assert (chosen.groups[index].name if index is not None else None) == group


@pytest.mark.parametrize(("cmdline", "group"), [
    ("postgres: walwriter ", "wal"), ("postgres: main: checkpointer ", "writers"),
    ("postgres: autovacuum worker appdb", "housekeeping"), ("postgres: app appdb 10.0.0.1(5432) idle", None),
])
def test_postgres_processes_are_classified_by_cmdline(cmdline: str, group: str | None) -> None:
    profile = builtin_profiles()["postgresql"]
    index = match_thread(profile, b"postgres", b"postgres", cmdline)
    assert (profile.groups[index].name if index is not None else None) == group


def test_every_builtin_cites_a_source_for_every_group() -> None:
    for profile in builtin_profiles().values():
        assert profile.source_text.count("source: https://") == len(profile.groups)
        assert parse_profile(to_yaml(profile)) == profile


def test_explicit_annotation_wins_then_image_then_none() -> None:
    profiles = builtin_profiles()
    pod = {"metadata": {"annotations": {"infera.io/profile": "jvm"}},
           "spec": {"containers": [{"image": "docker.io/library/mysql:8.0"}]}}
    annotation, images = pod_profile_inputs(pod)
    assert select_profile(annotation, images, profiles).profile == "jvm"
    chosen = select_profile(None, images, profiles)
    assert (chosen.profile, chosen.source) == ("mysql", "image") and "mysql:*" in chosen.reason
    assert select_profile("none", images, profiles).source == "opt-out"
    assert select_profile("nope", images, profiles).profile is None
    assert select_profile(None, ["busybox"], profiles).source == "none"
    assert normalize_image("registry.example:5000/team/redis@sha256:ab") == "team/redis:latest"


def test_cli_lint_reports_file_and_line(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"  # type: ignore[operator]
    bad.write_text("name: x\nversion: 1\ngroups:\n  - name: a\n    treatment: normal\n    comm: {prefix: a}\n"
                   "    extra: 1\n")
    assert profile_main(["lint", str(bad)]) == 1
    assert f"{bad}:7: unknown key 'extra'" in capsys.readouterr().out
    assert profile_main(["show", "redis"]) == 0
    assert "io_thd_" in capsys.readouterr().out


def test_temper_plan_shows_each_pods_profile_and_why(tmp_path: pytest.TempPathFactory,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from temper.plan_cli import main as plan_main

    pods = {"items": [
        {"metadata": {"name": "db", "namespace": "prod", "uid": "u1"},
         "spec": {"containers": [{"image": "mysql:8.4", "resources": {"requests": {"cpu": "1"}}}]}},
        {"metadata": {"name": "cache", "namespace": "prod", "uid": "u2",
                      "annotations": {"infera.io/profile": "none"}},
         "spec": {"containers": [{"image": "memcached:1.6"}]}},
    ]}
    pods_file, node_file = tmp_path / "pods.json", tmp_path / "node.json"  # type: ignore[operator]
    pods_file.write_text(json.dumps(pods))
    node_file.write_text(json.dumps({"metadata": {"name": ""}, "status": {"capacity": {"cpu": "4"}}}))
    assert plan_main(["--pods", str(pods_file), "--node", str(node_file)]) == 0
    out = capsys.readouterr().out
    assert "prod/db     mysql      image mysql:8.4 matches 'mysql:*'" in out
    assert "prod/cache  -          infera.io/profile: none" in out

"""Every component's command line has the same shape and the same words (issue 15 §5).

``temper COMPONENT serve|config``; one flag per concept across the agent, the extender, the
webhook and the console (``temper.clikit.FLAGS``); the old spellings still parse, into the
same settings as the new ones, and each prints one deprecation line on stderr."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from temper import clikit

COMPONENTS = ("agent", "extender", "webhook", "console")
SYNONYMS = {"--cert-file", "--key-file", "--cert", "--key", "--tls-crt", "--host", "--port", "--bind", "--address",
            "--loglevel", "--log", "--metrics-port", "--metrics-addr", "--kube-config", "--config-file",
            "--ca-bundle", "--client-ca-file", "--handshake-timeout", "--max-conns"}
"""Spellings of a vocabulary concept that no parser may offer as a live flag."""


def cli_of(component: str) -> clikit.ComponentCli:
    from console.main import cli as console_cli
    from extender.main import cli as extender_cli
    from nodeagent.main import cli as agent_cli
    from webhook.main import cli as webhook_cli

    builders: dict[str, Callable[[], clikit.ComponentCli]] = {
        "agent": agent_cli, "extender": extender_cli, "webhook": webhook_cli, "console": console_cli}
    return builders[component]()


def actions(component: str) -> Iterator[tuple[str, argparse.Action]]:
    for name, parser in cli_of(component).commands.items():
        for action in parser._actions:
            if action.option_strings:
                yield name, action


def live(action: argparse.Action) -> bool:
    return not isinstance(action, clikit.DeprecatedAlias)


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_component_is_serve_and_config_with_examples_in_every_help(component: str) -> None:
    tool = cli_of(component)
    assert {"serve", "config"} <= set(tool.commands)
    assert "examples:" in tool.parser.format_help()
    for parser in tool.commands.values():
        assert "examples:\n  temper " + component in parser.format_help()


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_concept_is_spelled_by_its_one_flag_and_no_synonym_is_offered(component: str) -> None:
    for command, action in actions(component):
        if not live(action):
            continue
        where = f"temper {component} {command} {action.option_strings}"
        if action.dest in clikit.FLAGS:
            assert action.option_strings == [clikit.FLAGS[action.dest]], where
        for flag in action.option_strings:
            assert flag not in SYNONYMS, where
            if flag in clikit.FLAGS_BY_NAME:
                assert action.dest == clikit.FLAGS_BY_NAME[flag], where


def test_shared_concepts_take_the_same_values_everywhere() -> None:
    seen: dict[str, set[tuple[object, ...]]] = {}
    for component in COMPONENTS:
        serve = cli_of(component).commands["serve"]
        flags = {flag for action in serve._actions if live(action) for flag in action.option_strings}
        assert {"--listen", "--log-level"} <= flags, component
        if "--tls-cert" in flags:
            assert {"--tls-key", "--client-ca"} <= flags, component
        for action in serve._actions:
            if action.dest in ("log_level", "listen") and live(action):
                seen.setdefault(action.dest, set()).add((action.metavar, tuple(action.choices or ())))
    assert seen["log_level"] == {(None, clikit.LOG_LEVELS)}
    assert seen["listen"] == {("HOST:PORT", ())}
    tls = [c for c in COMPONENTS if "--tls-cert" in cli_of(c).commands["serve"]._option_string_actions]
    assert tls == ["extender", "webhook", "console"]
    limits = [c for c in COMPONENTS if "--max-connections" in cli_of(c).commands["serve"]._option_string_actions]
    assert limits == ["extender", "webhook", "console"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_deprecated_spellings_are_hidden_from_help(component: str) -> None:
    for command, action in actions(component):
        if not live(action):
            assert action.help == argparse.SUPPRESS
            for flag in action.option_strings:
                assert flag not in cli_of(component).commands[command].format_help()


def warnings(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_webhook_old_spellings_parse_to_the_same_settings_and_warn(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from webhook.main import _settings, parse_args

    config = tmp_path / "temper.yaml"
    config.write_text("webhook: {floor: 20m}\n")
    new = _settings(parse_args(["serve", "--config", str(config), "--tls-cert", "a.crt", "--tls-key", "a.key",
                                "--listen", "127.0.0.1:9443"]))
    assert warnings(capsys) == []
    for old in (["--config", str(config), "--cert-file", "a.crt", "--key-file", "a.key", "--listen", "127.0.0.1:9443"],
                ["--config", str(config), "--cert-file", "a.crt", "--key-file", "a.key", "--listen", "127.0.0.1:9443",
                 "serve"],
                ["serve", "--config", str(config), "--cert-file", "a.crt", "--key-file", "a.key",
                 "--listen", "127.0.0.1:9443"]):
        args = parse_args(old)
        assert args.command == "serve"
        assert _settings(args) == new
        lines = warnings(capsys)
        assert any("--cert-file is deprecated, use --tls-cert" in line for line in lines)
        assert any("--key-file is deprecated, use --tls-key" in line for line in lines)
        assert all(line.startswith("temper webhook") and "deprecated" in line for line in lines)
        assert len(lines) == (3 if old[0] != "serve" else 2)  # plus one for the missing or misplaced command


def test_bare_temper_webhook_still_means_serve(capsys: pytest.CaptureFixture[str]) -> None:
    from webhook.main import parse_args

    assert parse_args([]).command == "serve"
    (line,) = warnings(capsys)
    assert "no command is deprecated, use `temper webhook serve [options]`" in line


def test_a_flag_value_that_looks_like_a_command_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    from webhook.main import parse_args

    args = parse_args(["--config", "config"])
    assert (args.command, args.config) == ("serve", "config")
    assert len(warnings(capsys)) == 1


def test_webhook_config_ca_file_is_ca_data_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from webhook.main import main

    (tmp_path / "ca.crt").write_bytes(b"PEM")
    assert main(["config", "--ca-data-from", str(tmp_path / "ca.crt")]) == 0
    new = capsys.readouterr().out
    assert main(["config", "--ca-file", str(tmp_path / "ca.crt")]) == 0
    captured = capsys.readouterr()
    assert captured.out == new
    assert captured.err == ("temper webhook config: --ca-file is deprecated, use --ca-data-from "
                            f"({clikit.REMOVAL})\n")


def test_agent_without_a_command_still_serves_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    from nodeagent.main import parse_args

    old = parse_args(["--config", "c.yaml", "--observe-only", "--listen", "127.0.0.1:0", "--log-level", "debug"])
    (line,) = warnings(capsys)
    assert line.startswith("temper agent: no command is deprecated")
    new = parse_args(["serve", "--config", "c.yaml", "--observe-only", "--listen", "127.0.0.1:0",
                      "--log-level", "DEBUG"])
    assert warnings(capsys) == []
    assert vars(old) == vars(new)


def test_agent_config_prints_a_file_that_loads_as_the_same_configuration(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nodeagent.main import main
    from temper.config import load_agent_config, parse_agent_config

    config = tmp_path / "c.yaml"
    config.write_text("planner: {unfenceableCpus: '0-1', sliceUs: {critical: 5000}}\n"
                      "agent: {observeOnly: true, publish: {maxAgeSeconds: 30}}\n")
    assert main(["config", "--config", str(config)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert parse_agent_config(printed) == load_agent_config(config)
    assert printed["planner"]["unfenceableCpus"] == "0-1"


def test_console_host_and_port_are_deprecated_halves_of_listen(capsys: pytest.CaptureFixture[str]) -> None:
    from console.main import cli, effective_settings

    new = effective_settings(cli().parse(["serve", "--listen", "127.0.0.1:9000"]))
    assert warnings(capsys) == []
    old = effective_settings(cli().parse(["serve", "--host", "127.0.0.1", "--port", "9000"]))
    assert old == new
    assert warnings(capsys) == [f"temper console serve: --host is deprecated, use --listen ({clikit.REMOVAL})",
                                f"temper console serve: --port is deprecated, use --listen ({clikit.REMOVAL})"]
    half = effective_settings(cli().parse(["serve", "--port", "9001"]))
    assert half["listen"] == "0.0.0.0:9001"


def test_console_config_shows_token_names_and_roles_never_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    from console.main import main

    assert main(["config", "--token", "alice:viewer:s3cret-value", "--listen", "127.0.0.1:9000"]) == 0
    out = capsys.readouterr().out
    document = yaml.safe_load(out)
    assert document["tokens"] == [{"name": "alice", "role": "viewer"}]
    assert document["listen"] == "127.0.0.1:9000"
    assert "s3cret-value" not in out


def test_log_level_is_checked_and_case_insensitive() -> None:
    from extender.main import cli

    assert cli().parse(["serve", "--log-level", "warning"]).log_level == "WARNING"
    with pytest.raises(SystemExit):
        cli().parse(["serve", "--log-level", "LOUD"])

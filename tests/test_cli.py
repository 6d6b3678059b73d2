"""The command line surface (DESIGN.md §4): every command exists, is documented, and errors are one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dpa.cli import cli
from tests.conftest import REPO
from tests.signing_support import DPA

DESIGNED = [
    "demo",
    "generate",
    "sign",
    "issue",
    "invite",
    "verify",
    "batch",
    "ingest",
    "register list",
    "register show",
    "register export",
    "register end",
    "register purge",
    "pki init",
    "pki revoke",
    "tsa serve",
    "templates check",
    "archive seal",
    "archive extend",
    "serve",
    "users add",
    "users list",
    "users disable",
    "users token",
]


def all_commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names.extend(all_commands(command, f"{prefix}{name} "))
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_designed_command_exists() -> None:
    assert sorted(DESIGNED) == sorted(all_commands(cli))


@pytest.mark.parametrize("command", DESIGNED)
def test_every_command_appears_in_the_readme(command: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"dpa {command}" in readme, f"README.md shows no example of dpa {command}"


def find(command: str) -> click.Command:
    node: click.Command = cli
    for part in command.split():
        assert isinstance(node, click.Group)
        node = node.commands[part]
    return node


@pytest.mark.parametrize("command", DESIGNED)
def test_every_command_is_documented(command: str) -> None:
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    target = find(command)
    assert target.help and len(target.help.split("\n\n")[0]) > 30, f"'dpa {command}' has no real description"
    for param in target.params:
        if isinstance(param, click.Option):
            assert param.help, f"'dpa {command}': option {param.opts} has no help text"


def test_errors_are_one_line_without_traceback() -> None:
    record = REPO / "templates" / "examples" / "customer.toml"
    result = subprocess.run(
        [*DPA, "--config", "/nonexistent/dpa.toml", "generate", str(record)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "dpa: error: configuration file /nonexistent/dpa.toml does not exist"


def test_usage_error_exit_code() -> None:
    result = subprocess.run([*DPA, "sign", "x.pdf"], capture_output=True, text=True)
    assert result.returncode == 2 and "--as" in result.stderr


def commands_with_an_output() -> list[str]:
    names = []
    for command in DESIGNED:
        if any(isinstance(p, click.Option) and "-o" in p.opts for p in find(command).params):
            names.append(command)
    return names


def test_the_commands_that_write_take_dash_o() -> None:
    assert sorted(commands_with_an_output()) == ["batch", "demo", "generate", "issue", "sign"]


@pytest.mark.parametrize("command", commands_with_an_output())
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_output_is_a_usage_error(command: str, value: str, tmp_path: Path) -> None:
    record = REPO / "templates" / "examples" / "customer.toml"
    args = {
        "batch": [str(REPO / "templates" / "examples" / "customers.csv")],
        "demo": [],
        "generate": [str(record)],
        "issue": [str(record)],
        "sign": [str(tmp_path / "x.pdf"), "--as", "processor"],
    }[command]
    result = subprocess.run([*DPA, *command.split(), *args, "-o", value], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "must not be empty" in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_an_empty_export_target_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([*DPA, "register", "export", ""], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "must not be empty" in result.stderr

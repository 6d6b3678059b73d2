"""The command line surface (DESIGN.md §4): every command exists, is documented — in ``--help`` and, both ways,
in the README — and errors are one line."""

from __future__ import annotations

import contextlib
import re
import shlex
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


@pytest.mark.parametrize("command", all_commands(cli))
def test_every_command_is_documented(command: str) -> None:
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    target = find(command)
    assert target.help and len(target.help.split("\n\n")[0]) > 30, f"'dpa {command}' has no real description"
    for param in target.params:
        if isinstance(param, click.Option):
            assert param.help, f"'dpa {command}': option {param.opts} has no help text"


# --- the README, both ways (as sqlite-utils' docs test does) ----------------------------------------------------

README = REPO / "README.md"
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_SEPARATORS = re.compile(r"&&|\|\||[|;&]")


def readme_command_lines() -> list[str]:
    """Every ``dpa …`` (or ``python -m dpa …``) command in the README's code blocks, as written. In a block that
    shows a session (lines with a ``$ `` prompt), only the prompted lines are commands; the rest is their output."""
    commands = []
    for block in FENCE.findall(README.read_text(encoding="utf-8")):
        lines = [line.strip() for line in block.splitlines()]
        if any(line.startswith("$ ") for line in lines):
            lines = [line for line in lines if line.startswith("$ ")]
        for line in lines:
            line = line.removeprefix("$ ")
            for segment in SHELL_SEPARATORS.split(line.split(" #", 1)[0]):
                segment = segment.strip()
                if segment.startswith(("dpa ", "python -m dpa ")) or segment in ("dpa", "python -m dpa"):
                    commands.append(segment.removeprefix("python -m "))
    return commands


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count and option.nargs != 0


def resolve(line: str) -> tuple[str, list[str]]:
    """The command path a README line invokes (``"register list"``) and what is wrong with the line.

    Sub-command names are followed down the click tree; every option must exist on the command it is given to
    (``--config`` before the sub-command, ``--jobs`` after it); positional arguments are not checked.
    """
    tokens = shlex.split(line)[1:]
    node: click.Command = cli
    path: list[str] = []
    problems: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        where = "'" + " ".join(["dpa", *path]) + "'"
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            options = {
                n: p for p in node.get_params(click.Context(node)) for n in p.opts if isinstance(p, click.Option)
            }
            option = options.get(name)
            if option is None:
                problems.append(f"{line}: {where} has no option {name}")
            elif _takes_value(option) and "=" not in token:
                index += 1
            continue
        if isinstance(node, click.Group):
            if token not in node.commands:
                problems.append(f"{line}: {where} has no command '{token}'")
                break
            node = node.commands[token]
            path.append(token)
    if not problems and isinstance(node, click.Group) and not {"--help", "-h", "--version"} & set(tokens):
        problems.append(f"{line}: {' '.join(['dpa', *path])} is a group, not a command")
    return " ".join(path), problems


def test_the_readme_shows_commands() -> None:
    assert len(readme_command_lines()) > 20


def test_every_command_the_readme_shows_exists() -> None:
    problems = [problem for line in readme_command_lines() for problem in resolve(line)[1]]
    assert problems == []


def test_every_command_has_an_example_in_the_readme() -> None:
    shown = {resolve(line)[0] for line in readme_command_lines()}
    missing = [f"dpa {command}" for command in all_commands(cli) if command not in shown]
    assert missing == [], "add an example of each to a code block in README.md"


def test_the_readme_check_catches_what_it_should() -> None:
    assert resolve("dpa --config x.toml register list --status effective") == ("register list", [])
    assert resolve("dpa batch crm.csv --jobs 2 --dry-run") == ("batch", [])
    assert resolve("dpa registr list")[1] == ["dpa registr list: 'dpa' has no command 'registr'"]
    assert resolve("dpa batch crm.csv --workers 2")[1] == [
        "dpa batch crm.csv --workers 2: 'dpa batch' has no option --workers"
    ]
    assert resolve("dpa register")[1] == ["dpa register: dpa register is a group, not a command"]


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


def test_library_records_reach_stderr_only_with_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    """pypdf's own warnings ("invalid pdf header" for a file that is not a PDF, which dpa reports in words) are not
    printed by Python's last-resort handler; with -v they are, in dpa's format."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from dpa.cli.app import LIBRARY_LOGGERS, configure_logging

    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in map(logging.getLogger, ("dpa", *LIBRARY_LOGGERS))]
    try:
        for verbose in (False, True):
            configure_logging(verbose)
            with contextlib.suppress(PdfReadError):
                PdfReader(io.BytesIO(b"not a pdf"))
            err = capsys.readouterr().err
            assert ("invalid pdf header" in err) is verbose, err
            if verbose:
                assert "dpa: WARNING: pypdf" in err, err
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


@pytest.mark.parametrize("command", ["verify", "ingest"])
def test_a_missing_trust_file_is_a_usage_error(command: str, tmp_path: Path) -> None:
    """--trust and --trust-tsa (one definition for verify and ingest) name files that must exist."""
    from tests.cli_support import invoke

    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    for option in ("--trust", "--trust-tsa"):
        result = invoke(command, str(pdf), option, str(tmp_path / "missing.pem"))
        assert result.returncode == 2 and "missing.pem" in result.stderr and "does not exist" in result.stderr, (
            result.stderr
        )

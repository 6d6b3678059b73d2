"""The commands of sales and legal end to end: issue, sign, ingest, register; and their error paths.

In-process through :func:`tests.cli_support.invoke`, except where the process itself matters: a missing passphrase
with standard input closed or not a terminal must be one line, never a prompt or a hang."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from dpa.config import Config
from tests.cli_support import Invoked, invoke
from tests.conftest import REPO, config_file_for
from tests.signing_support import DPA, run_dpa

pytestmark = pytest.mark.libreoffice
RECORD = REPO / "templates" / "examples" / "customer.toml"


def dpa(config: Path, *args: str | Path) -> Invoked:
    return invoke("--config", config, *args)


def one_line_error(result: Invoked | subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpa: error:"), result.stderr
    return lines[0]


def test_issue_sign_ingest_and_the_register(signing_config: Config, tmp_path: Path) -> None:
    config = config_file_for(signing_config, tmp_path)
    tsa = signing_config.tsa.urls[0]
    issued = tmp_path / "C-10001.pdf"

    # no passphrase in the environment (a real process, stdin not a terminal): one clear line, nothing written,
    # nothing registered
    args = ("--config", str(config), "issue", str(RECORD), "-o", str(issued), "--tsa", tsa)
    result = run_dpa(*args, env={"DPA_DEV_PROCESSOR_PASSPHRASE": None})
    assert result.returncode == 1
    assert "DPA_DEV_PROCESSOR_PASSPHRASE" in one_line_error(result)
    assert not issued.exists() and not (tmp_path / "register.sqlite3").exists()
    assert dpa(config, "register", "list").returncode == 1  # and the register commands do not create one

    # the TSA is down: no signature without a timestamp, so no file and no register entry
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    result = dpa(config, "issue", RECORD, "-o", issued, "--tsa", dead)
    assert result.returncode == 1 and "timestamp" in one_line_error(result).lower()
    assert not issued.exists()
    assert dpa(config, "register", "list").stdout == ""

    result = dpa(config, "issue", RECORD, "-o", issued, "--tsa", tsa)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(issued)
    again = dpa(config, "issue", RECORD, "-o", tmp_path / "again.pdf", "--tsa", tsa)
    assert again.returncode == 1 and "already issued as" in one_line_error(again)
    assert not (tmp_path / "again.pdf").exists()

    unchanged = dpa(config, "ingest", issued)
    assert unchanged.returncode == 1 and "REFUSED" in unchanged.stdout and "not signed it yet" in unchanged.stdout

    returned = tmp_path / "returned.pdf"
    signed = dpa(config, "sign", issued, "--as", "controller", "-o", returned, "--tsa", tsa)
    assert signed.returncode == 0, signed.stderr
    # the example controller's certificate names another company than the example customer: ingest waits for
    # legal and changes nothing; legal confirms that signer for this agreement with --confirm-signer
    waiting = dpa(config, "ingest", returned)
    assert waiting.returncode == 1, waiting.stdout + waiting.stderr
    assert "WAITING (C-10001): waiting for legal to confirm this signer" in waiting.stdout
    assert "'Voorbeeldklant B.V.'" in waiting.stdout and "'Vechtdal Installatietechniek B.V.'" in waiting.stdout
    assert json.loads(dpa(config, "register", "list", "--json").stdout)["status"] == "issued"
    assert dpa(config, "ingest", returned, issued, "--confirm-signer").returncode == 2  # one PDF at a time
    accepted = dpa(config, "ingest", returned, "--confirm-signer")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "accepted (C-10001): effective from" in accepted.stdout
    assert "confirmed by legal" in accepted.stdout

    listed = dpa(config, "register", "list", "--json", "--status", "effective")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["customer_id"] == "C-10001" and row["effective_date"] and row["signed_file"]
    shown = dpa(config, "register", "show", "C-10001")
    assert "status: effective" in shown.stdout and "effective" in shown.stdout.split("history:")[1]
    assert "signer-confirmed legal confirmed the signer CN=Voorbeeldklant B.V." in shown.stdout
    export = tmp_path / "register.csv"
    assert dpa(config, "register", "export", export).returncode == 0
    with export.open(encoding="utf-8", newline="") as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["effective"]

    # the cooperation ended long ago: purge removes the files, keeps a tombstone; --dry-run first changes nothing
    long_ago = (date.today() - timedelta(days=3 * 366)).isoformat()
    assert dpa(config, "register", "end", "C-10001", "--on", long_ago).returncode == 0
    dry = dpa(config, "register", "purge", "--dry-run")
    assert dry.returncode == 0 and "would purge C-10001" in dry.stdout
    stored = Path(row["signed_file"])
    assert issued.exists() and stored.exists()
    purged = dpa(config, "register", "purge")
    assert "purged C-10001" in purged.stdout
    assert not issued.exists() and not stored.exists()
    tombstone = json.loads(dpa(config, "register", "list", "--json").stdout)
    assert tombstone["status"] == "purged" and tombstone["name"] is None and tombstone["issued_sha256"]


def test_missing_passphrase_with_stdin_closed(signing_config: Config, tmp_path: Path) -> None:
    """Standard input closed altogether (file descriptor 0 not open, as under some schedulers): no prompt, no
    traceback, one line naming the variable."""
    config = config_file_for(signing_config, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DPA_DEV_PROCESSOR_PASSPHRASE"}
    command = [*DPA, "--config", str(config), "issue", str(RECORD), "-o", str(tmp_path / "x.pdf")]
    command += ["--tsa", signing_config.tsa.urls[0]]
    result = subprocess.run(
        [sys.executable, "-c", "import os, subprocess, sys; os.close(0); sys.exit(subprocess.call(sys.argv[1:]))"]
        + command,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "DPA_DEV_PROCESSOR_PASSPHRASE" in one_line_error(result)
    assert not (tmp_path / "x.pdf").exists()


def test_bad_input_to_the_register_commands(signing_config: Config, tmp_path: Path) -> None:
    config = config_file_for(signing_config, tmp_path)
    assert "no register at" in one_line_error(dpa(config, "register", "show", "C-1"))
    assert dpa(config, "register", "end", "C-1", "--on", "gisteren").returncode == 2
    not_ours = tmp_path / "x.pdf"
    not_ours.write_bytes(b"%PDF-1.7\n%%EOF\n")
    refused = dpa(config, "ingest", not_ours, tmp_path / "absent.pdf")
    assert refused.returncode == 1 and refused.stdout.count("REFUSED") == 2 and "Traceback" not in refused.stderr

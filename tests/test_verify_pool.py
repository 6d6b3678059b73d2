"""Verification workers carry no verdict from one file to the next, and several of them keep the files' order.

Issue 15: caches must never carry a verdict from one file to another. One warm worker judges a good file, then a
tampered copy, then the good one again, then a variant whose validation data says the signer was revoked before it
signed; every verdict must be the one a fresh worker gives. The pool (``dpa verify --jobs``) must give the same
verdicts, in the order of the files.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dpa.config import Config
from dpa.devtools.devpki import DevPki
from dpa.errors import ConfigError
from dpa.verify.pool import VerifierPool, default_jobs
from dpa.verify.report import DocumentReport
from dpa.verify.verifier import TOTAL_FAILED, TOTAL_PASSED, Verifier
from tests import tamper
from tests.cli_support import invoke

pytestmark = pytest.mark.tampered("*tampered*", "*revoked*")


@pytest.fixture(scope="module")
def variants(signing_config: Config, assembled_agreement: bytes, dev_pki: DevPki) -> dict[str, bytes]:
    """A good two-signature agreement, a copy with one signed byte changed, and one whose CRL revokes the signer."""
    good = tamper.sign_both(signing_config, assembled_agreement)
    start = good.full.index(b"/Producer")  # inside the first revision: covered by both signatures
    crl = tamper.crl_revoking(dev_pki.ca, dev_pki.controller, good.controller_time - dt.timedelta(minutes=1))
    return {
        "good": good.full,
        "tampered": tamper.flip_byte(good.full, start + 2),
        "revoked": tamper.incremental(good.full, tamper.add_dss_crl(crl)),
    }


def _verdict(report: DocumentReport) -> tuple[object, ...]:
    return (
        report.indication,
        report.sub_indication,
        report.complete,
        report.effective_date,
        tuple(report.problems),
        tuple((s.field, s.indication, s.sub_indication) for s in report.signatures),
    )


def _fresh(config: Config, data: bytes, name: str) -> DocumentReport:
    with Verifier(config) as verifier:
        return verifier.verify_bytes(data, name)


def test_one_worker_carries_no_verdict_between_files(signing_config: Config, variants: dict[str, bytes]) -> None:
    """good → tampered → good → revoked → good in one worker: each verdict equals a fresh worker's."""
    expected = {name: _verdict(_fresh(signing_config, data, f"{name}.pdf")) for name, data in variants.items()}
    assert expected["good"][0] == TOTAL_PASSED and expected["good"][2] is True, expected["good"]
    assert expected["tampered"][0] == TOTAL_FAILED, expected["tampered"]
    assert expected["revoked"][:2] == (TOTAL_FAILED, "REVOKED"), expected["revoked"]
    sequence = ["good", "tampered", "good", "revoked", "good"]
    with Verifier(signing_config) as verifier:
        seen = [_verdict(verifier.verify_bytes(variants[name], f"{name}.pdf")) for name in sequence]
        assert verifier._worker is not None and verifier._worker.process.poll() is None  # one worker throughout
    assert seen == [expected[name] for name in sequence]


def test_pool_keeps_the_order_and_the_verdicts(
    signing_config: Config, variants: dict[str, bytes], tmp_path: Path
) -> None:
    """Two workers over nine files: the reports come in the order of the files, each as one worker judges it."""
    names = ["good", "tampered", "revoked"] * 3
    paths = []
    for i, name in enumerate(names):
        path = tmp_path / f"{i:02d}-{name}.pdf"
        path.write_bytes(variants[name])
        paths.append(path)
    with Verifier(signing_config) as verifier:
        alone = [verifier.verify_file(path) for path in paths]
    with VerifierPool(signing_config, jobs=2) as pool:
        together = list(pool.verify_paths([tmp_path]))
    assert [r.file for r in together] == [str(p) for p in paths]
    assert [_verdict(r) for r in together] == [_verdict(r) for r in alone]


def test_pool_refuses_zero_jobs(signing_config: Config) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        VerifierPool(signing_config, jobs=0)
    assert default_jobs() >= 1


def test_verify_jobs_option(signing_config: Config, variants: dict[str, bytes], tmp_path: Path) -> None:
    """`dpa verify --jobs 2 FOLDER` prints the files in order; --jobs 0 is a usage error."""
    from tests.conftest import config_file_for

    config = config_file_for(signing_config, tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}-good.pdf").write_bytes(variants["good"])
    result = invoke("--config", str(config), "verify", "--json", "--jobs", "2", str(folder))
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in reports] == [str(folder / f"{i}-good.pdf") for i in range(4)]
    assert {r["indication"] for r in reports} == {TOTAL_PASSED}
    refused = invoke("--config", str(config), "verify", "--jobs", "0", str(folder))
    assert refused.returncode == 2 and "--jobs" in refused.stderr, refused.stderr

"""Fixtures of the interop suite: real dpa-issued agreements, the customer's key in each tool's key store, an open
TSA for the customers' tools, the compiled Java signers, and legal's verifier and ingest."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dpa.assembly.convert import Converter
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.devtools.devpki import CONTROLLER_PASSPHRASE_ENV, TSA_KEY_PASSPHRASE_ENV, DevPki
from dpa.register import Register
from dpa.roles import PROCESSOR
from dpa.signing.sign import SigningSession
from dpa.verify.verifier import Verifier
from dpa.workflows.issue import IssueRun, issue_one
from tests.conftest import config_file_for, local_paths, make_record
from tests.interop.tools import ControllerKey, compile_java_signers, nss_db_with_key
from tests.signing_support import TsaProcess, run_dpa, start_tsa


@pytest.fixture(scope="module")
def interop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's folder: issued agreements, the register, the tools' key stores."""
    return tmp_path_factory.mktemp("interop")


@pytest.fixture(scope="module")
def interop_config(signing_config: Config, interop_dir: Path) -> Config:
    """The session's development PKI and TSA, with this module's own register."""
    return local_paths(signing_config, interop_dir)


@pytest.fixture(scope="module")
def issue_agreement(interop_config: Config, converter: Converter, interop_dir: Path) -> Iterator[Callable[[str], Path]]:
    """``issue_agreement(customer_id)``: a real agreement issued by dpa's only issue path (LibreOffice, certified by
    ipcall.me with a timestamp from the session's ``dpa tsa serve``, entered in the register)."""
    templates = TemplateSet.load(interop_config.paths.templates)
    with SigningSession(interop_config) as session, Register(interop_config.paths.register) as register:
        session.preload([PROCESSOR.role])
        run = IssueRun(interop_config, templates, converter, session, register)

        def issue(customer_id: str) -> Path:
            folder = interop_dir / customer_id
            folder.mkdir()
            return issue_one(make_record(id=customer_id), folder / f"{customer_id}.pdf", run).path

        yield issue


@pytest.fixture(scope="module")
def controller_key(dev_pki: DevPki) -> ControllerKey:
    """The example customer's development key (PKCS#12) as a customer would hold it."""
    return ControllerKey(
        p12=dev_pki.directory / "controller.p12",
        passphrase=dev_pki.secrets[CONTROLLER_PASSPHRASE_ENV],
        ca=dev_pki.ca_path,
        subject_cn=dev_pki.controller.common_name,
    )


@pytest.fixture(scope="module")
def customer_nssdir(interop_dir: Path, controller_key: ControllerKey) -> Path:
    """An NSS database with the customer's key (for pdfsig -sign and LibreOffice) that trusts the development CA
    (for pdfsig's independent check)."""
    return nss_db_with_key(interop_dir / "nss", controller_key)


@pytest.fixture(scope="module")
def open_tsa(dev_pki: DevPki, interop_dir: Path) -> Iterator[TsaProcess]:
    """A second real ``dpa tsa serve`` with the development TSA key but without basic auth, as the public TSAs
    that customers configure in their tools are: no credentials on any command line."""
    config = interop_dir / "open-tsa.toml"
    config.write_text(
        "[tsa.server]\n"
        f'cert = "{dev_pki.tsa_cert_path}"\n'
        f'key = "{dev_pki.directory / "tsa-key.pem"}"\n'
        f'key_passphrase_env = "{TSA_KEY_PASSPHRASE_ENV}"\n'
        f'chain = ["{dev_pki.ca_path}"]\n',
        encoding="utf-8",
    )
    tsa = start_tsa(config, dict(dev_pki.secrets))
    yield tsa
    assert tsa.stop() == 0, "the open dpa tsa serve did not exit cleanly on SIGTERM"


@pytest.fixture(scope="module")
def java_classpath(interop_dir: Path) -> str:
    """The Java signers (tests/interop/java), compiled once for the module."""
    return compile_java_signers(interop_dir / "classes")


@pytest.fixture(scope="module")
def verifier(interop_config: Config) -> Iterator[Verifier]:
    """Legal's verifier, as ``dpa verify`` runs it (a limited worker process)."""
    with Verifier(interop_config) as v:
        yield v


@pytest.fixture(scope="module")
def ingest_cli(interop_config: Config, interop_dir: Path) -> Callable[[Path], subprocess.CompletedProcess[str]]:
    """``ingest_cli(pdf)``: ``dpa --config … ingest PDF`` as a separate process, against this module's register."""
    config_file = config_file_for(interop_config, interop_dir)

    def ingest(pdf: Path) -> subprocess.CompletedProcess[str]:
        return run_dpa("--config", str(config_file), "ingest", str(pdf))

    return ingest

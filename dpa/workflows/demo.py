"""The whole flow on embedded defaults, for a first look and for ``make demo``.

Development PKI (made once in ``DIR/pki``, its CRL and OCSP addresses on a loopback port chosen then), the
embedded TSA with those revocation services on that port for the duration of the run, the example customer
issued and certified by ipcall.me (B-LT), counter-signed by the example controller, ingested into a register,
sealed with an archive timestamp (B-LTA) and verified. Everything lands in ``DIR``; running it again starts the
agreement afresh and keeps the PKI. The development PKI is marked NIET VOOR PRODUCTIE and must never sign a real
agreement.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dpa.archive.seal import Archiver, ArchiveResult
from dpa.config import EXAMPLE_PROCESSOR, Config, load_config
from dpa.devtools.devpki import init_dev_pki, read_secrets_env
from dpa.devtools.tsa_server import free_loopback_port, tsa_server_from_config
from dpa.records import CustomerRecord, record_from_mapping
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.verify.verifier import DocumentReport, Verifier
from dpa.workflows.ingest import SIGNED_FOLDER, IngestResult, ingest_file
from dpa.workflows.issue import issue

EXAMPLE_CUSTOMER: dict[str, str] = {
    "id": "C-10001",
    "name": "Vechtdal Installatietechniek B.V.",
    "kvk": "90412378",
    "street": "Oudegracht 214",
    "postcode": "3511 NT",
    "city": "Utrecht",
    "country": "NL",
    "email": "administratie@vechtdal-installatie.example.nl",
    "signatory_name": "Marieke van den Berg-Öztürk",
    "signatory_title": "algemeen directeur",
    "contract_ref": "IPC-2025-0142",
    "language": "nl",
}
"""The demo's fictional customer, embedded so that ``dpa demo`` runs from any folder after ``pip install``; the
same record as ``templates/examples/customer.toml`` (a test keeps the two equal)."""


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things and what verification said."""

    directory: Path
    pki_config: Path
    tsa_url: str
    issued: Path
    returned: Path
    ingest: IngestResult
    sealed: ArchiveResult | None
    report: DocumentReport


def run_demo(directory: Path, record: CustomerRecord | None = None) -> DemoResult:
    """Run the whole flow into ``directory`` (see the module docstring)."""
    directory = directory.resolve()
    record = record or record_from_mapping(EXAMPLE_CUSTOMER, "the demo's example customer")
    pki_config = development_pki(directory / "pki", record)

    issued_path = directory / f"{record.id}.pdf"
    returned_path = directory / "returned" / f"{record.id}.pdf"
    stored = sorted((directory / SIGNED_FOLDER).glob(f"{record.id}+*.pdf"))
    for stale in (issued_path, returned_path, *stored, directory / "register.sqlite3"):
        stale.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (directory / f"register.sqlite3{suffix}").unlink(missing_ok=True)

    base = load_config(pki_config)
    with tsa_server_from_config(base, port=pki_port(base)) as server:
        url = server.start_in_thread()
        config = embedded_config(base, directory, url)
        issue(record, config, issued_path)
        returned_path.parent.mkdir(parents=True, exist_ok=True)
        with SigningSession(config) as session:  # the customer counter-signs with the example controller key
            session.sign(issued_path, "controller", returned_path)
        with Register(config.paths.register) as register, Verifier(config) as v:
            ingested = ingest_file(returned_path, register, v)
            sealed = None
            if ingested.stored is not None:
                with Archiver(config, register=register) as archiver:
                    sealed = archiver.seal_file(ingested.stored)
            report = v.verify_file(ingested.stored or returned_path)
    return DemoResult(directory, pki_config, url, issued_path, returned_path, ingested, sealed, report)


def development_pki(pki_dir: Path, record: CustomerRecord | None = None) -> Path:
    """The development PKI in ``pki_dir`` (made once, then reused) with its passphrases in this process's
    environment; returns its ``dpa.toml``. Used by the demo and by ``dpa serve --dev``.

    A new PKI gets a free loopback port for its TSA and revocation services (its certificates name it) and an
    example controller whose certificate names ``record``'s customer, as a real customer's would. A PKI made
    before revocation services existed is moved aside, never deleted.
    """
    if (pki_dir / "dpa.toml").exists() and not (pki_dir / "tsa-ca.pem").exists():
        pki_dir.rename(pki_dir.with_name(f"{pki_dir.name}.without-revocation-{int(time.time())}"))
    if (pki_dir / "dpa.toml").exists():
        pki_config = pki_dir / "dpa.toml"
        secrets = read_secrets_env(pki_dir / "dev-secrets.env")
    else:
        customer = record or record_from_mapping(EXAMPLE_CUSTOMER, "the demo's example customer")
        made = init_dev_pki(
            pki_dir,
            tsa_url=f"http://127.0.0.1:{free_loopback_port()}/",
            controller_name=customer.name,
            controller_email=customer.email or None,
        )
        pki_config, secrets = made.config_path, dict(made.secrets)
    os.environ.update(secrets)  # the development passphrases, for this process only
    return pki_config


def pki_port(config: Config) -> int:
    """The loopback port a development PKI's certificates name for its TSA and revocation services."""
    return int(config.tsa.urls[0].rstrip("/").rsplit(":", 1)[1])


def embedded_config(base: Config, directory: Path, tsa_url: str, register: Path | None = None) -> Config:
    """``base`` (the development PKI's configuration) with the example processor when it names none, the
    embedded TSA at ``tsa_url``, output under ``directory`` and the register there (or at ``register``)."""
    processor = base.processor if base.processor.signatory_name else EXAMPLE_PROCESSOR
    return dataclasses.replace(
        base,
        processor=processor,
        tsa=dataclasses.replace(base.tsa, urls=(tsa_url,)),
        paths=dataclasses.replace(base.paths, output=directory, register=register or directory / "register.sqlite3"),
    )

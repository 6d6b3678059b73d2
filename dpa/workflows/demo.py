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
    pki_config, secrets = _demo_pki(directory / "pki", record)
    os.environ.update(secrets)  # the demo's own development passphrases, for this process only

    issued_path = directory / f"{record.id}.pdf"
    returned_path = directory / "returned" / f"{record.id}.pdf"
    stored = sorted((directory / SIGNED_FOLDER).glob(f"{record.id}+*.pdf"))
    for stale in (issued_path, returned_path, *stored, directory / "register.sqlite3"):
        stale.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (directory / f"register.sqlite3{suffix}").unlink(missing_ok=True)

    base = load_config(pki_config)
    port = int(base.tsa.urls[0].rstrip("/").rsplit(":", 1)[1])  # the PKI's certificates name this port
    with tsa_server_from_config(base, port=port) as server:
        url = server.start_in_thread()
        config = _demo_config(base, directory, url)
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


def _demo_pki(pki_dir: Path, record: CustomerRecord) -> tuple[Path, dict[str, str]]:
    """The demo's PKI and its passphrases: made once (on a free port); one made before it had revocation services
    is moved aside, never deleted. The example controller's certificate names the example customer, as a real
    customer's would."""
    if (pki_dir / "dpa.toml").exists() and not (pki_dir / "tsa-ca.pem").exists():
        pki_dir.rename(pki_dir.with_name(f"{pki_dir.name}.without-revocation-{int(time.time())}"))
    if (pki_dir / "dpa.toml").exists():
        return pki_dir / "dpa.toml", read_secrets_env(pki_dir / "dev-secrets.env")
    made = init_dev_pki(
        pki_dir,
        tsa_url=f"http://127.0.0.1:{free_loopback_port()}/",
        controller_name=record.name,
        controller_email=record.email or None,
    )
    return made.config_path, dict(made.secrets)


def _demo_config(base: Config, directory: Path, tsa_url: str) -> Config:
    processor = base.processor if base.processor.signatory_name else EXAMPLE_PROCESSOR
    return dataclasses.replace(
        base,
        processor=processor,
        tsa=dataclasses.replace(base.tsa, urls=(tsa_url,)),
        paths=dataclasses.replace(base.paths, output=directory, register=directory / "register.sqlite3"),
    )

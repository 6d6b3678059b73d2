"""One customer: record → assembled, unsigned PDF/A (and, with the signing half, → signed PDF).

These functions are the library entry points behind ``dpa generate`` and ``dpa issue``; the batch runs the same
steps with shared resources (a converter pool, a loaded signer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dpa.assembly.convert import Converter
from dpa.assembly.merge import AgreementMetadata, assemble_pdf
from dpa.assembly.render import render_agreement
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.files import move_aside, read_input, write_atomic
from dpa.records import CustomerRecord
from dpa.register import Register
from dpa.signing.keys import SecretPrompt
from dpa.signing.sign import SigningSession, SignResult

TITLE = "Verwerkersovereenkomst ipcall.me"


def assemble(
    record: CustomerRecord,
    config: Config,
    converter: Converter,
    templates: TemplateSet | None = None,
    contract: bytes | None = None,
) -> bytes:
    """Render, convert and merge the agreement for ``record``; returns the unsigned PDF/A with both fields."""
    templates = templates or TemplateSet.load(config.paths.templates, record.language)
    rendered = render_agreement(record, config.processor, templates)
    body = converter.convert(rendered.body, "agreement")
    annex = converter.convert(rendered.annex, "annex")
    metadata = AgreementMetadata(
        title=f"{TITLE} – {record.name}",
        customer_id=record.id,
        template_version=templates.version,
        record_sha256=record.sha256(),
        created=datetime.now(UTC),
    )
    return assemble_pdf(body, annex, metadata, contract)


def generate(record: CustomerRecord, config: Config, output: Path, contract: Path | None = None) -> Path:
    """``dpa generate``: assemble one agreement with a fresh converter and write it atomically to ``output``."""
    contract_bytes = read_input(contract, "contract") if contract else None
    with Converter(1, soffice=config.paths.soffice) as converter:
        pdf = assemble(record, config, converter, contract=contract_bytes)
    write_atomic(output, pdf)
    return output


@dataclass(frozen=True)
class Issued:
    """An agreement issued for one customer: the file, its hash, the signature report and the register row."""

    path: Path
    sha256: str
    signature: SignResult
    register_id: int


def issue(
    record: CustomerRecord,
    config: Config,
    output: Path,
    *,
    tsa_urls: Sequence[str] = (),
    contract: Path | None = None,
    prompt: SecretPrompt | None = None,
) -> Issued:
    """``dpa issue``: assemble, certify as processor (with a timestamp), write atomically, enter in the register.

    The key is loaded and the register asked before LibreOffice starts, so a wrong passphrase or an agreement
    already issued fails at once and nothing is written. A file already at ``output`` is moved aside.
    """
    contract_bytes = read_input(contract, "contract") if contract else None
    templates = TemplateSet.load(config.paths.templates, record.language)
    with SigningSession(config, tsa_urls=tsa_urls, prompt=prompt) as session:
        session.preload(["processor"])
        with Register(config.paths.register) as register:
            register.check_can_issue(record, templates.version)
            with Converter(1, soffice=config.paths.soffice) as converter:
                pdf = assemble(record, config, converter, templates, contract_bytes)
            signed, result = session.sign_bytes(pdf, "processor", name=record.id)
            if output.exists():  # an earlier agreement under this name is kept, never overwritten
                old_sha = hashlib.sha256(output.read_bytes()).hexdigest()
                register.relocate(output.resolve(), old_sha, move_aside(output).resolve())
            write_atomic(output, signed)
            digest = hashlib.sha256(signed).hexdigest()
            row = register.record_issued(record, templates.version, output.resolve(), digest)
    return Issued(output, digest, result, row.id)

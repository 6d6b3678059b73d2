"""One customer: record → assembled, unsigned PDF/A (:func:`assemble`) → issued agreement (:func:`issue_one`).

:func:`issue_one` is the only issue path; ``dpa issue``, ``dpa batch`` and the web call it with the resources of
their run (:class:`IssueRun`: a converter pool, a loaded signer, the register).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from dpa.assembly.convert import Converter
from dpa.assembly.merge import AgreementMetadata, assemble_pdf
from dpa.assembly.render import render_agreement
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.errors import DpaError, EvidenceError
from dpa.files import move_aside, read_input, write_atomic
from dpa.records import CustomerRecord
from dpa.register import Register
from dpa.roles import PROCESSOR
from dpa.signing.document import read_field_state
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
    agreement = converter.convert(render_agreement(record, config.processor, templates), "agreement")
    metadata = AgreementMetadata(
        title=f"{TITLE} – {record.name}",
        customer_id=record.id,
        template_version=templates.version,
        record_sha256=record.sha256(),
        created=datetime.now(UTC),
    )
    return assemble_pdf(agreement, metadata, contract)


def generate(record: CustomerRecord, config: Config, output: Path, contract: Path | None = None) -> Path:
    """``dpa generate``: assemble one agreement with a fresh converter and write it atomically to ``output``.

    ``output`` may not be an agreement the register knows (refused before anything is assembled).
    """
    refuse_evidence_target(config, output, "dpa generate")
    contract_bytes = read_input(contract, "contract") if contract else None
    with Converter(1, soffice=config.paths.soffice) as converter:
        pdf = assemble(record, config, converter, contract=contract_bytes)
    write_atomic(output, pdf)
    return output


@dataclass(frozen=True)
class IssueRun:
    """What issuing needs, made once per run and shared by every agreement of it (one or a whole batch)."""

    config: Config
    templates: TemplateSet
    converter: Converter
    session: SigningSession
    register: Register


@dataclass(frozen=True)
class Issued:
    """An agreement issued for one customer: the file, its hash, the signature and the register row.

    ``signature`` is None when the agreement was already there (``skipped``); ``moved`` names where an older
    agreement under the same name went.
    """

    path: Path
    sha256: str
    signature: SignResult | None
    register_id: int
    moved: Path | None = None

    @property
    def skipped(self) -> bool:
        """True when the agreement for this record and template was already issued under this name."""
        return self.signature is None


def issue_one(
    record: CustomerRecord, output: Path, run: IssueRun, *, contract: bytes | None = None, resume: bool = False
) -> Issued:
    """The only path by which an agreement is issued: used by ``dpa issue``, ``dpa batch`` and the web.

    It asks the register first: an agreement for this record and template that is already issued (and its file
    still there) or effective is refused before anything is assembled or signed. Then it assembles, certifies as
    processor (with a timestamp), writes ``output`` atomically (an older file there is moved aside, never
    overwritten) and enters the agreement in the register. With ``resume`` (a batch rerun) a file at ``output``
    that is already this agreement is kept and reported as skipped.
    """
    version = run.templates.version
    if resume and output.exists():
        existing = output.read_bytes()
        if agreement_key(existing, signed=True) == (record.id, version, record.sha256()):
            digest = hashlib.sha256(existing).hexdigest()
            row = run.register.record_issued(record, version, output.resolve(), digest)
            return Issued(output, digest, None, row.id)
    run.register.check_can_issue(record, version)
    if output.exists():
        _check_may_move_aside(run.register, output, record)
    pdf = assemble(record, run.config, run.converter, run.templates, contract)
    signed, result = run.session.sign_bytes(pdf, PROCESSOR.role, name=record.id)
    moved = None
    if output.exists():  # an earlier agreement under this name is kept, never overwritten
        old_sha = hashlib.sha256(output.read_bytes()).hexdigest()
        moved = move_aside(output)
        run.register.relocate(output.resolve(), old_sha, moved.resolve())
    write_atomic(output, signed)
    digest = hashlib.sha256(signed).hexdigest()
    try:
        row = run.register.record_issued(record, version, output.resolve(), digest)
    except DpaError:
        output.unlink(missing_ok=True)  # never sent and never recorded: not an issued agreement
        raise
    return Issued(output, digest, result, row.id, moved)


def issue(
    record: CustomerRecord,
    config: Config,
    output: Path,
    *,
    tsa_urls: Sequence[str] = (),
    contract: Path | None = None,
    prompt: SecretPrompt | None = None,
) -> Issued:
    """``dpa issue``: :func:`issue_one` for one customer, with its own converter, signing session and register.

    The key is loaded and the register asked before LibreOffice starts (it starts on the first conversion), so a
    wrong passphrase or an agreement already issued fails at once and nothing is written.
    """
    contract_bytes = read_input(contract, "contract") if contract else None
    templates = TemplateSet.load(config.paths.templates, record.language)
    with SigningSession(config, tsa_urls=tsa_urls, prompt=prompt) as session:
        session.preload([PROCESSOR.role])
        with Register(config.paths.register) as register, Converter(1, soffice=config.paths.soffice) as converter:
            run = IssueRun(config, templates, converter, session, register)
            return issue_one(record, output, run, contract=contract_bytes)


def refuse_evidence_target(config: Config, target: Path, command: str) -> None:
    """Raise :class:`~dpa.errors.EvidenceError` when ``target`` is an agreement the register knows (by place or
    content): ``command`` would overwrite it. Without a register there is nothing to protect yet."""
    if not config.paths.register.exists():
        return
    with Register(config.paths.register, create=False) as register:
        known = register.known_file(target)
    if known is not None:
        raise EvidenceError(
            f"{target} is the {known.kind} agreement of {known.agreement.customer_id} in the register "
            f"({known.agreement.status}); {command} never overwrites it: choose another output"
        )


def _check_may_move_aside(register: Register, output: Path, record: CustomerRecord) -> None:
    """An existing file at ``output`` is moved aside only when it is not evidence of something else: never a
    stored signed copy, never another customer's agreement."""
    known = register.known_file(output)
    if known is None or (known.kind == "issued" and known.agreement.customer_id == record.id):
        return
    raise EvidenceError(
        f"{output} is the {known.kind} agreement of {known.agreement.customer_id} in the register; issuing "
        f"{record.id} there would displace it: choose another output"
    )


def agreement_key(pdf: bytes, *, signed: bool) -> tuple[str, str, str] | None:
    """(customer id, template version, record hash) from an agreement's metadata; None if unusable (or, with
    ``signed``, when the processor has not signed it)."""
    try:
        info: dict[str, object] = dict(PdfReader(io.BytesIO(pdf)).metadata or {})
        if signed and not read_field_state(pdf).fields.get(PROCESSOR.field):
            return None
    except (DpaError, PdfReadError, ValueError, KeyError, TypeError):
        return None
    return (str(info.get("/DPACustomerId")), str(info.get("/DPATemplateVersion")), str(info.get("/DPARecordSHA256")))

"""Archive timestamps (PAdES B-LTA): seal a completed agreement, and extend it before its timestamps age out.

* :func:`seal` (``dpa archive seal``) adds, in one incremental update, validation data for every signature and
  timestamp in the file (certificates and CRLs, fetched now from the certificates' own addresses)
  and a document timestamp over the whole file, including that data. A file already sealed is left alone.
* :func:`extend` (``dpa archive extend``) does the same for each agreement whose newest timestamp certificate
  expires within ``within_days``: fresh validation data for the newest document timestamp's chain, then a new
  document timestamp. Anything not due is left alone, so a second run changes nothing; a TSA whose own
  certificate would be due at once is refused.

Every update is appended and written atomically: the stored file's earlier bytes stay its prefix. With a
register, the agreement whose stored copy the file is records each update as an event; a file that differs from
what the register recorded is not touched. Without revocation data, ``[signing] require_revocation_data``
decides between stopping and adding the timestamp alone, with a warning. This module judges nothing: ingest
verifies before it seals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from asn1crypto import cms, x509
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper, TimestampDSSContentSettings
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.path import ValidationPath

from dpa.archive.evidence import Evidence, read_evidence
from dpa.config import Config
from dpa.errors import ArchiveError, DpaError
from dpa.files import write_atomic
from dpa.register import Agreement, Register
from dpa.signing.document import DpaUpdateWriter
from dpa.signing.keys import SecretPrompt
from dpa.signing.ltv import VALIDATION_ERRORS, MissingRevocationData, RevocationFetcher, validation_failure
from dpa.signing.timestamps import DpaTimeStamper, TimestampInfo, timestamper_from_config, tst_signer_certificate
from dpa.signing.trust import load_trust_roots

DEFAULT_WITHIN_DAYS = 180
WITHOUT_VALIDATION_DATA = "; archive timestamp added without it ([signing] require_revocation_data)"
"""How a warning about missing revocation data ends when the archive timestamp was added all the same."""
ARCHIVE_FIELD_PREFIX = "archive_timestamp_"


@dataclass(frozen=True)
class ArchiveResult:
    """What happened to one file: ``sealed``, ``extended``, ``not_due``, ``skipped`` or ``failed``."""

    file: Path
    action: str
    reason: str
    timestamp: dt.datetime | None = None
    """genTime of the document timestamp added."""
    tsa_expires: dt.datetime | None = None
    """notAfter of the newest timestamp's TSA certificate, after the action."""
    sha256: str | None = None
    """Of the file after the action."""
    warning: str | None = None
    registered: bool = False
    """The update was recorded in the register."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC)."""
        data = dataclasses.asdict(self)
        data["file"] = str(self.file)
        for key in ("timestamp", "tsa_expires"):
            value = getattr(self, key)
            data[key] = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
        return data


@dataclass(frozen=True)
class Appended:
    """One archive update: the new file and the document timestamp it ends with."""

    data: bytes
    stamp: TimestampInfo
    tsa_expires: dt.datetime
    warning: str | None


_Decision = Callable[[Path, bytes, Evidence], "ArchiveResult | Appended"]
"""What to do with one file: an outcome without writing, or the update to append."""


class Archiver:
    """Seals and extends agreements; built once per run (TSA client, revocation cache, optional register)."""

    def __init__(
        self,
        config: Config,
        *,
        tsa_urls: Sequence[str] = (),
        register: Register | None = None,
        prompt: SecretPrompt | None = None,
    ) -> None:
        self.config = config
        self.register = register
        self.timestamper: DpaTimeStamper = timestamper_from_config(config, tsa_urls, prompt=prompt)
        roots = [*load_trust_roots(config.trust.roots), *load_trust_roots(config.trust.tsa_roots)]
        self.revocation = RevocationFetcher(
            roots, required=config.signing.require_revocation_data, timeout_s=config.signing.revocation_timeout_s
        )

    def __enter__(self) -> Archiver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the TSA connection."""
        self.timestamper.close()

    # --- bytes -------------------------------------------------------------------------------------------------

    def seal_bytes(self, data: bytes, name: str = "the agreement") -> Appended:
        """``data`` plus validation data for every signature and timestamp and a document timestamp (B-LTA).

        For ingest, which seals a copy before it judges it. Raises :class:`~dpa.errors.ArchiveError` (or a
        :class:`~dpa.errors.SigningError` for certificates and the TSA) when it cannot.
        """
        evidence = read_evidence(data, name)
        if not evidence.signatures:
            raise ArchiveError(f"{name} carries no signature to seal")
        return self._append(data, evidence, evidence.signatures, name, not_before=None)

    def extend_bytes(self, data: bytes, name: str, not_before: dt.datetime) -> Appended:
        """``data`` plus fresh validation data for its newest document timestamp (every signature, when it has
        none yet) and a new document timestamp whose certificate must outlive ``not_before``."""
        evidence = read_evidence(data, name)
        subjects = evidence.document_timestamps[-1:] if evidence.sealed else evidence.signatures
        return self._append(data, evidence, subjects, name, not_before=not_before)

    def _append(
        self,
        data: bytes,
        evidence: Evidence,
        subjects: Sequence[EmbeddedPdfSignature],
        name: str,
        not_before: dt.datetime | None,
    ) -> Appended:
        context, paths, warning = self._validation_data(subjects)
        writer = DpaUpdateWriter(data, strict=False)
        if context is not None:
            DocumentSecurityStore.supply_dss_in_writer(writer, None, paths=paths, validation_context=context)
        stamper = PdfTimeStamper(self.timestamper, field_name=_free_field_name(evidence))
        self.timestamper.last = None
        out = io.BytesIO()
        settings = TimestampDSSContentSettings(update_before_ts=True, include_vri=False)
        try:
            coro = stamper.async_timestamp_pdf(writer, "sha256", context, output=out, dss_settings=settings)
            asyncio.run(coro)
        except VALIDATION_ERRORS as exc:
            raise validation_failure(exc, None, "the TSA's certificate") from None
        stamp = self.timestamper.last
        result = out.getvalue()
        if stamp is None or not result.startswith(data):  # pragma: no cover - pyHanko always appends
            raise ArchiveError(f"adding the archive timestamp to {name} did not append to it; nothing written")
        tsa_cert = tst_signer_certificate(stamp.token["content"])
        if tsa_cert is None:
            raise ArchiveError(f"the TSA's token for {name} does not include its certificate; nothing written")
        if not_before is not None and tsa_cert.not_valid_after <= not_before:
            raise ArchiveError(
                f"the TSA's own certificate ({stamp.tsa_subject}) expires on {tsa_cert.not_valid_after:%Y-%m-%d}, "
                "within the renewal window: its timestamp would be due again at once; nothing written — use a TSA "
                "with a fresh certificate (--tsa URL)"
            )
        return Appended(result, stamp, tsa_cert.not_valid_after, warning)

    def _validation_data(
        self, subjects: Sequence[EmbeddedPdfSignature]
    ) -> tuple[ValidationContext | None, list[ValidationPath], str | None]:
        """A context holding fresh revocation data for ``subjects`` and the TSA, with the paths validated; or,
        when data is missing and not required, no context and the warning."""
        certs = [c for sig in subjects for c in sig.other_embedded_certs]
        context = self.revocation.context(certs)
        try:
            paths = asyncio.run(_collect(context, subjects, self.timestamper))
        except MissingRevocationData as exc:
            if self.revocation.required:
                raise
            return None, [], f"{exc}{WITHOUT_VALIDATION_DATA}"
        return context, paths, None

    # --- files -------------------------------------------------------------------------------------------------

    def seal_file(self, path: Path) -> ArchiveResult:
        """Seal one stored agreement (see :func:`seal`)."""
        return self._on_file(path, self._seal_decision)

    def extend_file(self, path: Path, within_days: int = DEFAULT_WITHIN_DAYS) -> ArchiveResult:
        """Extend one stored agreement when due (see :func:`extend`)."""
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=within_days)

        def decide(path: Path, data: bytes, evidence: Evidence) -> ArchiveResult | Appended:
            newest = evidence.newest
            if not evidence.complete:
                return ArchiveResult(path, "skipped", "not complete: both parties must have signed")
            if newest is None:
                return ArchiveResult(path, "skipped", "no timestamp in the file")
            if newest.tsa_expires is None:
                raise ArchiveError("its newest timestamp lacks the TSA certificate, so its expiry is unknown")
            if newest.tsa_expires > deadline:
                return ArchiveResult(
                    path,
                    "not_due",
                    f"newest timestamp certificate valid until {newest.tsa_expires:%Y-%m-%d}, "
                    f"beyond {within_days} days",
                    tsa_expires=newest.tsa_expires,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            return self.extend_bytes(data, str(path), deadline)

        return self._on_file(path, decide, kind="archive-extended")

    def _seal_decision(self, path: Path, data: bytes, evidence: Evidence) -> ArchiveResult | Appended:
        if not evidence.complete:
            return ArchiveResult(path, "skipped", "not complete: both parties must have signed before it is sealed")
        if evidence.sealed:
            return ArchiveResult(
                path, "skipped", "already sealed (a document timestamp follows the last signature): extend renews it"
            )
        return self._append(data, evidence, evidence.signatures, str(path), not_before=None)

    def _on_file(self, path: Path, decide: _Decision, kind: str = "archive-sealed") -> ArchiveResult:
        try:
            data = path.read_bytes()
            agreement = self._registered(path, data)
            outcome = decide(path, data, read_evidence(data, str(path)))
            if isinstance(outcome, ArchiveResult):
                return outcome
            if path.read_bytes() != data:
                raise ArchiveError("the file changed while it was being archived; nothing written")
            write_atomic(path, outcome.data)
        except OSError as exc:
            return ArchiveResult(path, "failed", f"cannot read or write the file: {exc.strerror or exc}")
        except DpaError as exc:
            return ArchiveResult(path, "failed", str(exc))
        old, new = hashlib.sha256(data).hexdigest(), hashlib.sha256(outcome.data).hexdigest()
        detail = f"document timestamp {outcome.stamp.gen_time:%Y-%m-%d %H:%M:%S} UTC from {outcome.stamp.url}"
        if agreement is not None and self.register is not None:
            self.register.record_archive_update(agreement.id, old, new, kind, detail)
        action = "sealed" if kind == "archive-sealed" else "extended"
        where = "" if agreement is not None else " (not in the register)"
        return ArchiveResult(
            path,
            action,
            detail + where,
            timestamp=outcome.stamp.gen_time,
            tsa_expires=outcome.tsa_expires,
            sha256=new,
            warning=outcome.warning,
            registered=agreement is not None,
        )

    def _registered(self, path: Path, data: bytes) -> Agreement | None:
        """The agreement that stores ``path``; refuses a file that is not what the register recorded (nor that
        plus archive updates the register missed, after a crash between writing and recording)."""
        if self.register is None:
            return None
        agreement = self.register.by_signed_file(path)
        if agreement is None or agreement.signed_sha256 in _revision_hashes(data):
            return agreement
        raise ArchiveError(
            f"the file is not the signed copy the register recorded for {agreement.customer_id} "
            f"(sha256 {agreement.signed_sha256}); not touched"
        )


def seal(
    path: Path,
    config: Config,
    *,
    tsa_urls: Sequence[str] = (),
    register: Register | None = None,
    prompt: SecretPrompt | None = None,
) -> ArchiveResult:
    """Seal one completed agreement on file: validation data and a document timestamp (PAdES B-LTA)."""
    with Archiver(config, tsa_urls=tsa_urls, register=register, prompt=prompt) as archiver:
        return archiver.seal_file(Path(path))


def extend(
    paths: Iterable[Path],
    config: Config,
    *,
    within_days: int = DEFAULT_WITHIN_DAYS,
    tsa_urls: Sequence[str] = (),
    register: Register | None = None,
    prompt: SecretPrompt | None = None,
) -> list[ArchiveResult]:
    """Extend every agreement in ``paths`` (files, or folders walked for ``*.pdf``) whose newest timestamp
    certificate expires within ``within_days``; one result per file, in order."""
    with Archiver(config, tsa_urls=tsa_urls, register=register, prompt=prompt) as archiver:
        return [archiver.extend_file(path, within_days) for path in pdf_files(paths)]


def pdf_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders walked (sorted) for ``*.pdf``, skipping hidden files and partial writes."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.pdf") if p.is_file() and not p.name.startswith("."))
        else:
            yield path


async def _collect(
    context: ValidationContext, subjects: Sequence[EmbeddedPdfSignature], timestamper: DpaTimeStamper
) -> list[ValidationPath]:
    """Validate, now, the chain of each signature or document timestamp in ``subjects``, of each signature's
    timestamps and of the TSA about to be used, fetching their revocation data into ``context``."""
    paths: list[ValidationPath] = []
    for sig in subjects:
        whose = f"the {'document timestamp' if sig.sig_object_type == '/DocTimeStamp' else 'signature'} in "
        whose += f"{sig.field_name}"
        paths.append(await _validated(context, sig.signer_cert, sig.other_embedded_certs, whose))
        if sig.sig_object_type != "/DocTimeStamp":
            for tst in extract_tst_data_iter(sig.signer_info, signed=False):
                cert = tst_signer_certificate(tst)
                if cert is not None:
                    paths.append(await _validated(context, cert, _certs_of(tst), f"the timestamp of {whose}"))
    try:
        paths.extend([path async for path in timestamper.validation_paths(context)])  # type: ignore[no-untyped-call]
    except VALIDATION_ERRORS as exc:
        raise validation_failure(exc, None, "the TSA's certificate") from None
    return paths


async def _validated(
    context: ValidationContext, cert: x509.Certificate, others: Sequence[x509.Certificate], whose: str
) -> ValidationPath:
    validator = CertificateValidator(cert, intermediate_certs=list(others), validation_context=context)
    try:
        path: ValidationPath = await validator.async_validate_usage(set())  # type: ignore[no-untyped-call]
    except VALIDATION_ERRORS as exc:
        raise validation_failure(exc, cert, whose) from None
    return path


def _certs_of(signed_data: cms.SignedData) -> list[x509.Certificate]:
    return [c.chosen for c in signed_data["certificates"] if isinstance(c.chosen, x509.Certificate)]


def _free_field_name(evidence: Evidence) -> str:
    taken = evidence.field_names()
    number = 1
    while f"{ARCHIVE_FIELD_PREFIX}{number}" in taken:
        number += 1
    return f"{ARCHIVE_FIELD_PREFIX}{number}"


def _revision_hashes(data: bytes) -> set[str]:
    """SHA-256 of ``data`` and of each prefix that ends a revision (after ``%%EOF`` and its end of line)."""
    hashes = {hashlib.sha256(data).hexdigest()}
    start = 0
    while (found := data.find(b"%%EOF", start)) != -1:
        end = found + 5
        for cut in (end, end + 1, end + 2):
            hashes.add(hashlib.sha256(data[:cut]).hexdigest())
        start = end
    return hashes

"""What an agreement on file holds for long-term validation: its signatures, their timestamps, its document
timestamps, and which timestamp certificate expires first.

Read leniently (a customer's tool may write a revision pyHanko's strict reader stops at): this module only
reads facts off the file for :mod:`dpa.archive.seal`; judging the file is ``dpa verify``'s job.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from asn1crypto import cms, tsp
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from dpa.errors import ArchiveError
from dpa.roles import BY_ROLE, ROLES
from dpa.signing.timestamps import tst_signer_certificate


@dataclass(frozen=True)
class TimestampFact:
    """One RFC 3161 timestamp in the file: a signature's own, or a document timestamp."""

    gen_time: dt.datetime
    tsa_subject: str
    tsa_expires: dt.datetime | None
    """notAfter of the TSA certificate; None when the token does not include it."""
    document: bool
    """A document (archive) timestamp, as opposed to a signature timestamp."""


@dataclass(frozen=True)
class Evidence:
    """The facts :mod:`dpa.archive.seal` acts on."""

    reader: PdfFileReader
    signatures: tuple[EmbeddedPdfSignature, ...]
    """Every signature and document timestamp, in file order."""
    timestamps: tuple[TimestampFact, ...]
    complete: bool
    """Both parties' fields carry a signature."""
    sealed: bool
    """A document timestamp follows the last signature."""

    @property
    def newest(self) -> TimestampFact | None:
        """The timestamp with the latest genTime: the one whose certificate must outlive the next extension."""
        return max(self.timestamps, key=lambda t: t.gen_time, default=None)

    @property
    def document_timestamps(self) -> tuple[EmbeddedPdfSignature, ...]:
        """The document timestamps, in file order."""
        return tuple(s for s in self.signatures if s.sig_object_type == "/DocTimeStamp")

    def field_names(self) -> set[str]:
        """Names of all signature fields, filled or not."""
        return {str(name) for name, _value, _ref in enumerate_sig_fields(self.reader)}


def read_evidence(data: bytes, name: str) -> Evidence:
    """Parse ``data`` (the PDF called ``name``) into :class:`Evidence`; an :class:`ArchiveError` when unreadable."""
    if b"%PDF-" not in data[:1024]:
        raise ArchiveError(f"{name} is not a PDF file")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise ArchiveError(f"{name} is encrypted; dpa archives only unencrypted agreements")
        signatures = tuple(reader.embedded_signatures)
        filled = {str(n) for n, value, _ref in enumerate_sig_fields(reader) if value is not None}
        timestamps = tuple(fact for sig in signatures for fact in _timestamps_of(sig))
    except ArchiveError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ArchiveError(f"{name} cannot be read as a signed PDF ({type(exc).__name__}: {exc})") from None
    complete = all(BY_ROLE[role].field in filled for role in ROLES)
    sealed = bool(signatures) and signatures[-1].sig_object_type == "/DocTimeStamp"
    return Evidence(reader, signatures, timestamps, complete, sealed)


def _timestamps_of(sig: EmbeddedPdfSignature) -> list[TimestampFact]:
    if sig.sig_object_type == "/DocTimeStamp":
        return [_fact(sig.signed_data, document=True)]
    return [_fact(tst, document=False) for tst in extract_tst_data_iter(sig.signer_info, signed=False)]


def _fact(signed_data: cms.SignedData, *, document: bool) -> TimestampFact:
    tst_info = tsp.TSTInfo.load(signed_data["encap_content_info"]["content"].contents)
    cert = tst_signer_certificate(signed_data)
    return TimestampFact(
        gen_time=tst_info["gen_time"].native,
        tsa_subject=cert.subject.human_friendly if cert is not None else "unknown TSA",
        tsa_expires=cert.not_valid_after if cert is not None else None,
        document=document,
    )

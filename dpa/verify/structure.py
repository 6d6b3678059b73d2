"""The structure layer: every byte of the file accounted for, revisions, signature dictionaries and ByteRanges.

* Every byte belongs to a revision on the chain from the last cross-reference section back to the first via
  /Prev. The file is scanned (linearly) for every ``startxref N %%EOF`` end of a revision; that list must be the
  chain pyHanko follows. A revision that restarts without /Prev after earlier content leaves the earlier ends off
  the chain; bytes after the last ``%%EOF`` belong to no revision. Either is TOTAL_FAILED/FORMAT_FAILURE.
* More than ``[verify] max_revisions`` incremental updates are refused before the file is parsed at all.
* dpa's own revisions are read strictly. When the strict reader stops (as on poppler's object generations without a
  free entry), the file is read leniently, and the revisions up to the first signature must still read strictly.
* A signature's /ByteRange excludes exactly its own /Contents; its /Filter and /SubFilter are ones dpa knows.
* An agreement dpa made is recognised by its content: dpa's metadata in the first revision.
"""

from __future__ import annotations

import io
import re

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure
from pyhanko.sign.validation import EmbeddedPdfSignature

from dpa.verify.explain import escape
from dpa.verify.findings import SigState

SIGNATURE_SUBFILTERS = frozenset({"/ETSI.CAdES.detached", "/adbe.pkcs7.detached"})
TIMESTAMP_SUBFILTERS = frozenset({"/ETSI.RFC3161"})
SIGNATURE_FILTERS = frozenset({"/Adobe.PPKLite", "/Adobe.PPKMS"})
"""Signature handlers whose dictionaries dpa understands; any other /Filter is refused (fails closed)."""
DPA_XMP_NAMESPACE = b"https://ipcall.me/ns/dpa/1.0/"
DPA_INFO_KEYS = ("/DPACustomerId", "/DPATemplateVersion", "/DPARecordSHA256")

_REVISION_END = re.compile(rb"startxref\s+(\d+)\s*%%EOF")


def revision_ends(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(startxref value, offset after ``%%EOF``) of every revision end written in the file, in file order.

    ``startxref 0`` (a linearisation placeholder) is not a revision of its own and is left out.
    """
    return [(int(m.group(1)), m.end()) for m in _REVISION_END.finditer(data) if int(m.group(1)) != 0]


def too_many_revisions(data: bytes | bytearray, max_revisions: int) -> str | None:
    """The sentence refusing a file with more than ``max_revisions`` incremental updates, or ``None``."""
    updates = len(revision_ends(data)) - 1
    if updates <= max_revisions:
        return None
    return (
        f"the file has {updates} incremental updates, more than the {max_revisions} allowed ([verify] "
        "max_revisions); it was not checked"
    )


def open_pdf(data: bytes | bytearray) -> tuple[PdfFileReader, bool]:
    """The file read strictly, or leniently when only the strict reader stops; (reader, lenient).

    Raises the reader's own errors (``PdfReadError`` and friends) for a file that cannot be read either way, or
    whose revisions up to the first signature do not read strictly.
    """
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        _ = reader.root
        return reader, False
    except misc.PdfStrictReadError:
        pass
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    return reader, True


def strict_prefix_problem(data: bytes | bytearray, reader: PdfFileReader, last_strict_revision: int) -> str | None:
    """With a leniently read file: the revisions up to ``last_strict_revision`` (dpa's own) must read strictly."""
    ends = revision_ends(data)
    if last_strict_revision >= len(ends):
        return "the file's revisions cannot be told apart"
    prefix = bytes(data[: ends[last_strict_revision][1]])
    try:
        strict = PdfFileReader(io.BytesIO(prefix), strict=True)
        _ = strict.root
    except (misc.PdfError, ValueError, KeyError, TypeError) as exc:
        return f"the signed part of the file is malformed ({escape(' '.join(str(exc).split()))[:200]})"
    del reader
    return None


def unaccounted_bytes(data: bytes | bytearray, reader: PdfFileReader) -> str | None:
    """The sentence for bytes that no revision on the /Prev chain explains, or ``None`` when all are accounted for."""
    xrefs = reader.xrefs
    total = xrefs.total_revisions
    try:
        chain = [int(xrefs.get_startxref_for_revision(rev)) for rev in range(total)]
        last_end = int(xrefs.get_xref_container_info(total - 1).end_location)
    except (misc.PdfError, IndexError, KeyError, TypeError):
        return "the end of the file does not belong to any revision"
    match = _REVISION_END.search(data, last_end)
    if match is None or int(match.group(1)) != chain[-1]:
        return "the file does not end with the last revision's startxref and %%EOF"
    after = bytes(data[match.end() :])
    if after not in (b"", b"\n", b"\r", b"\r\n"):
        return f"{len(after)} bytes follow the last revision's %%EOF that no revision accounts for"
    written = [start for start, _end in revision_ends(data)]
    if written[-total:] != chain:
        return "the file's revisions do not form one chain (a cross-reference section is missing or misplaced)"
    if len(written) > total:
        return (
            f"{len(written) - total} earlier revision(s) of the file are not on the chain of revisions: a later "
            "revision restarts without /Prev after earlier content, so the earlier bytes are not accounted for"
        )
    return None


def made_by_dpa(reader: PdfFileReader) -> bool:
    """Whether the first revision carries dpa's metadata (/Info DPA entries or dpa's XMP namespace)."""
    try:
        first = reader.get_historical_resolver(0)
        info_ref = first.trailer_view.get_value_as_reference("/Info", optional=True)
        info = first(info_ref) if info_ref is not None else None
        if isinstance(info, generic.DictionaryObject) and any(key in info for key in DPA_INFO_KEYS):
            return True
        meta_ref = first.root.get_value_as_reference("/Metadata", optional=True)
        stream = first(meta_ref) if meta_ref is not None else None
        if isinstance(stream, generic.StreamObject):
            return DPA_XMP_NAMESPACE in stream.read_data(DecodePurpose.XMP_METADATA)
    except (misc.PdfError, KeyError, TypeError, ValueError):
        return False
    return False


def signature_structure_ok(data: bytes | bytearray, state: SigState, embedded: EmbeddedPdfSignature) -> bool:
    """/Filter, /SubFilter, /ByteRange and /Contents: a signature must exclude exactly its own value, nothing else."""
    sig_object = embedded.sig_object
    filter_ = str(sig_object.get("/Filter", ""))
    if filter_ not in SIGNATURE_FILTERS:
        state.add(AdESFailure.FORMAT_FAILURE, f"the signature has an unknown /Filter '{escape(filter_ or 'none')}'")
        return False
    subfilter = str(sig_object.get("/SubFilter", ""))
    allowed = TIMESTAMP_SUBFILTERS if state.kind == "document_timestamp" else SIGNATURE_SUBFILTERS
    if subfilter not in allowed:
        state.add(
            AdESFailure.FORMAT_FAILURE, f"the signature has an unsupported /SubFilter '{escape(subfilter or 'none')}'"
        )
        return False
    problem = _byte_range_problem(data, embedded)
    if problem:
        state.add(AdESFailure.FORMAT_FAILURE, problem)
        return False
    return True


def _byte_range_problem(data: bytes | bytearray, embedded: EmbeddedPdfSignature) -> str | None:
    byte_range = embedded.byte_range
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        return "the signature's /ByteRange is not an array of four numbers"
    try:
        start1, len1, start2, len2 = (int(v) for v in byte_range)
    except (TypeError, ValueError):
        return "the signature's /ByteRange is not an array of four numbers"
    if not all(isinstance(v, generic.NumberObject) for v in byte_range) or min(start1, len1, start2, len2) < 0:
        return "the signature's /ByteRange contains non-integer or negative numbers"
    if start1 != 0:
        return "the signature's /ByteRange does not start at the beginning of the file"
    if start2 < len1 or start2 + len2 > len(data):
        return "the signature's /ByteRange points outside the file"
    gap = bytes(data[len1:start2])
    contents_hex = embedded.pkcs7_content.hex().encode()
    digits = re.sub(rb"\s", b"", gap[1:-1]).lower()  # a hex string may contain white space
    if not re.fullmatch(rb"<[0-9A-Fa-f\s]*>", gap) or digits != contents_hex:
        return (
            "the signature's /ByteRange does not exclude exactly its own /Contents (the signed bytes can be shown as "
            "something else)"
        )
    return None


def revision_of(reader: PdfFileReader, value: object) -> int:
    """The revision in which a signature field's value was last written (the last revision when unknown)."""
    try:
        if isinstance(value, generic.IndirectObject):
            return int(reader.xrefs.get_last_change(value.reference))
    except (misc.PdfError, KeyError, IndexError):
        pass
    total: int = reader.xrefs.total_revisions
    return total


__all__ = [
    "made_by_dpa",
    "open_pdf",
    "revision_ends",
    "revision_of",
    "signature_structure_ok",
    "strict_prefix_problem",
    "too_many_revisions",
    "unaccounted_bytes",
]

"""Checks on an input PDF before anything is signed: is it a PDF, unencrypted, with our empty field for the role?
And the incremental writer every later update goes through."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from dpa.errors import SigningError
from dpa.roles import BY_ROLE, PROCESSOR

PDF_1_7 = (1, 7)


class DpaUpdateWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer with four changes, so that other signers can extend what dpa writes.

    * **No metadata update.** pyHanko rewrites ``/Info`` ModDate/Producer and the XMP packet on every write. dpa
      leaves both alone: the XMP of a PDF/A-2b file must stay as the converter wrote it, and a signature update
      should change nothing but the signature field.
    * **New objects are numbered from /Size.** pyHanko 0.38 starts at /Size + 1, so the number /Size is left
      without any xref entry below the new /Size. LibreOffice numbers the objects it adds from the xref's entry
      count and then overwrites an object (issue 10 §4). Every number below /Size must have an entry.
    * **PDF 1.7 stays PDF 1.7** (see :meth:`ensure_output_version`).
    * **/DigestMethod in the DocMDP reference.** ISO 32000-2 (table 256) requires it in a signature reference
      dictionary; pyHanko does not write it and has no option for it, and endesive refuses a certification
      without it. It is added just before the one write that pyHanko hashes.
    """

    def __init__(
        self, data: bytes, *, certify: bool = False, digest_method: str = "/SHA256", strict: bool = True
    ) -> None:
        super().__init__(io.BytesIO(data), strict=strict)
        self._certify = certify
        self._digest_method = digest_method
        size = int(self.trailer["/Size"])
        if self._lastobj_id == size and all(idnum < size for _gen, idnum in self.objects):
            self._lastobj_id = size - 1  # private in pyHanko 0.38 (pinned below 0.39 in pyproject.toml)

    def _update_meta(self) -> None:
        return None

    def ensure_output_version(self, version: tuple[int, int]) -> None:
        """Never above PDF 1.7: pyHanko raises /Version to 2.0 for an ECDSA P-256 signature (ISO 32002), but a
        PDF/A-2b file is a PDF 1.7 file, and a changed /Version after ipcall.me's signature is refused by verify
        (DESIGN §6). The ISO 32002 extension pyHanko also registers declares the algorithm all the same."""
        super().ensure_output_version(min(version, PDF_1_7))  # type: ignore[no-untyped-call]

    def write(self, stream: IO[bytes]) -> None:
        """Write the update; a certification's DocMDP reference gets its /DigestMethod first."""
        if self._certify:
            signature = self.root["/Perms"]["/DocMDP"].get_object()
            for reference in signature["/Reference"]:
                reference = reference.get_object()
                if reference.get("/TransformMethod") == "/DocMDP":
                    reference[pdf_name("/DigestMethod")] = pdf_name(self._digest_method)
        super().write(stream)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class SignatureFieldState:
    """The signature fields of a PDF: name → filled?"""

    fields: dict[str, bool]
    signature_count: int


def role_field(role: str) -> str:
    """The field name for ``role``; a SigningError for an unknown role."""
    try:
        return BY_ROLE[role].field
    except KeyError:
        raise SigningError(f"unknown role '{role}': use processor or controller") from None


def read_field_state(data: bytes, name: str = "the input") -> SignatureFieldState:
    """Parse ``data`` as an unencrypted PDF and report its signature fields (SigningError otherwise)."""
    if b"%PDF-" not in data[:1024]:
        raise SigningError(f"{name} is not a PDF file")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        if reader.encrypted:
            raise SigningError(f"{name} is encrypted; dpa signs only unencrypted agreements")
        fields = {field_name: value is not None for field_name, value, _ref in enumerate_sig_fields(reader)}
        count = len(reader.embedded_signatures)
    except SigningError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SigningError(f"{name} cannot be read as a PDF ({type(exc).__name__}: {exc})") from None
    return SignatureFieldState(fields=fields, signature_count=count)


def check_can_sign(data: bytes, role: str, name: str = "the input") -> str:
    """Raise SigningError unless ``role`` may sign ``data`` now; returns the field name to fill.

    The processor signs first (a certification signature must be the first signature); the controller signs
    only after the processor.
    """
    field = role_field(role)
    state = read_field_state(data, name)
    if field not in state.fields:
        present = ", ".join(sorted(state.fields)) or "none"
        raise SigningError(
            f"{name} has no signature field '{field}' (signature fields present: {present}); "
            "sign a DPA made by `dpa generate`"
        )
    if state.fields[field]:
        raise SigningError(f"the field '{field}' in {name} is already signed")
    if role == "processor" and state.signature_count:
        raise SigningError(
            f"{name} already carries a signature; the processor's certification signature must be the first one"
        )
    if role == "controller":
        processor_field = PROCESSOR.field
        if not state.fields.get(processor_field, False):
            raise SigningError(
                f"the processor has not signed {name} yet; ipcall.me signs first (`dpa sign --as processor`)"
            )
    return field

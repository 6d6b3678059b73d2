"""Helpers for the signing tests: a stand-in agreement PDF, independent verifiers (pdfsig, openssl, qpdf, pdffonts),
the embedded TSA as a subprocess, and SoftHSM2 tokens.

Everything here drives real components; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field
from pyhanko.stamp import TextStamp, TextStampStyle

from dpa.config import Config
from dpa.processes import die_with_parent
from dpa.signing.appearance import DEFAULT_FONT, EmbeddedFontFactory

REPO = Path(__file__).resolve().parent.parent
DPA = (sys.executable, "-P", "-m", "dpa")  # -P: never import from the current folder, as the dpa script
A4 = (0, 0, 595, 842)
PROCESSOR_BOX = (60, 120, 280, 200)
CONTROLLER_BOX = (315, 120, 535, 200)

# --- a small PDF made elsewhere (not by dpa) ------------------------------------------------------------------------

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>2</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Verwerkersovereenkomst (test)</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

PAGES = [
    "Verwerkersovereenkomst\n\nArtikel 1. Definities\nDeze overeenkomst is een testdocument.",
    "Artikel 12. Inwerkingtreding\n12.1 Deze overeenkomst treedt in werking op de datum\nvan de laatste ondertekening.",
    "Aldus overeengekomen en ondertekend\n\n"
    "Voor de Verwerker (ipcall.me)                        Voor de Verwerkingsverantwoordelijke",
]


class _PlainMetadataWriter(PdfFileWriter):  # type: ignore[misc]
    """pyHanko's writer without its own Info/XMP handling, so the test XMP stays as written."""

    def _update_meta(self) -> None:
        return None


def build_test_agreement(*, fields: bool = True) -> bytes:
    """A small three-page PDF that dpa did not assemble: PDF/A-2b XMP, text in an embedded font, and both empty
    signature fields on the last page (``fields=False``: without them). The real agreement for the signing tests
    is the ``assembled_agreement`` fixture; this one serves the cases about PDFs made elsewhere."""
    writer = _PlainMetadataWriter(stream_xrefs=False)
    style = TextStampStyle(
        stamp_text="%(text)s",
        text_box_style=TextBoxStyle(font=EmbeddedFontFactory(DEFAULT_FONT, 11), font_size=11, leading=15),
        border_width=0,
    )
    for index, text in enumerate(PAGES):
        contents = writer.add_object(generic.StreamObject(stream_data=b""))
        writer.insert_page(PageObject(contents=contents, media_box=A4))
        stamp = TextStamp(writer, style, text_params={"text": text}, box=BoxConstraints(width=500, height=120))
        stamp.apply(index, 50, 650)
    metadata = generic.StreamObject(
        {pdf_name("/Type"): pdf_name("/Metadata"), pdf_name("/Subtype"): pdf_name("/XML")},
        stream_data=XMP.encode("utf-8"),
    )
    writer.root[pdf_name("/Metadata")] = writer.add_object(metadata)
    writer.update_root()
    for name, box in (("processor_signature", PROCESSOR_BOX), ("controller_signature", CONTROLLER_BOX)):
        if fields:
            append_signature_field(writer, SigFieldSpec(name, on_page=-1, box=box))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- reading signatures back -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedSignature:
    """One signature as found in the file, with the pieces the independent checks need."""

    field: str
    byte_range: tuple[int, int, int, int]
    signed_data: cms.SignedData
    signature_value: bytes
    timestamp_token: cms.ContentInfo | None
    certify: bool


def embedded_signatures(pdf: Path | bytes) -> list[EmbeddedSignature]:
    """Every signature in ``pdf``, in file order."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfFileReader(io.BytesIO(data))
    result = []
    for sig in reader.embedded_signatures:
        signer_info = sig.signer_info
        token = None
        for attr in signer_info["unsigned_attrs"] or []:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]
        byte_range = tuple(int(v) for v in sig.sig_object["/ByteRange"])
        certify = "/Reference" in sig.sig_object and any(
            ref.get("/TransformMethod") == "/DocMDP" for ref in sig.sig_object["/Reference"]
        )
        result.append(
            EmbeddedSignature(
                field=sig.field_name,
                byte_range=byte_range,  # type: ignore[arg-type]
                signed_data=sig.signed_data,
                signature_value=signer_info["signature"].native,
                timestamp_token=token,
                certify=certify,
            )
        )
    return result


def covered_revision(data: bytes, sig: EmbeddedSignature) -> bytes:
    """The bytes of the revision a signature covers (up to the end of its second byte range)."""
    start2, length2 = sig.byte_range[2], sig.byte_range[3]
    return data[: start2 + length2]


# --- independent verifiers ---------------------------------------------------------------------------------------


def make_nss_db(directory: Path, ca_pem: Path) -> Path:
    """An NSS database in ``directory`` that trusts ``ca_pem`` (for pdfsig)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{directory}"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-n", "dpa-test-ca", "-t", "CT,C,C", "-i", str(ca_pem), "-d", f"sql:{directory}"],
        check=True,
        capture_output=True,
    )
    return directory


@dataclass(frozen=True)
class PdfsigSignature:
    """One signature as pdfsig reports it."""

    field: str
    signature_valid: bool
    certificate_trusted: bool
    whole_document: bool
    raw: str


def pdfsig(pdf: Path, nssdir: Path) -> list[PdfsigSignature]:
    """Run poppler's pdfsig and parse its report (it exits 0 even on "Digest Mismatch", so read the text)."""
    proc = subprocess.run(["pdfsig", "-nssdir", f"sql:{nssdir}", str(pdf)], capture_output=True, text=True, check=False)
    blocks = re.split(r"^Signature #\d+:\s*$", proc.stdout, flags=re.M)[1:]
    result = []
    for block in blocks:
        field = re.search(r"Signature Field Name:\s*(\S+)", block)
        result.append(
            PdfsigSignature(
                field=field.group(1) if field else "",
                signature_valid="Signature Validation: Signature is Valid." in block,
                certificate_trusted="Certificate Validation: Certificate is Trusted." in block,
                whole_document="Total document signed" in block and "Not total document signed" not in block,
                raw=block,
            )
        )
    return result


@dataclass(frozen=True)
class XrefRevision:
    """One classic cross-reference section as written in the file: its trailer's /Size and the numbers it lists."""

    offset: int
    size: int
    numbers: frozenset[int]


def xref_revisions(data: bytes) -> list[XrefRevision]:
    """Every cross-reference section of ``data``, first revision first, read by following startxref and /Prev.

    An independent reader (no PDF library): it understands classic ``xref`` tables only and raises on anything
    else, such as a cross-reference stream, rather than guess.
    """
    start = re.findall(rb"startxref\s+(\d+)\s+%%EOF\s*$", data[-64:])
    assert start, "no startxref at the end of the file"
    offset: int | None = int(start[0])
    sections = []
    while offset is not None:
        assert data[offset : offset + 4] == b"xref", f"no classic xref table at {offset}"
        numbers: set[int] = set()
        position = offset + 4
        while True:
            header = re.compile(rb"\s*(\d+) (\d+)[ \t]*\r?\n").match(data, position)
            if header is None:
                break
            first, count = int(header.group(1)), int(header.group(2))
            position = header.end()
            for number in range(first, first + count):
                entry = data[position : position + 20]
                assert re.fullmatch(rb"\d{10} \d{5} [nf](\r\n| \r| \n)", entry), (number, entry)
                numbers.add(number)
                position += 20
        trailer = re.compile(rb"\s*trailer\s*<<(.*?)>>\s*startxref", re.S).match(data, position)
        assert trailer is not None, f"no trailer after the xref table at {offset}"
        size = re.search(rb"/Size\s+(\d+)", trailer.group(1))
        assert size is not None, "a trailer without /Size"
        sections.append(XrefRevision(offset, int(size.group(1)), frozenset(numbers)))
        prev = re.search(rb"/Prev\s+(\d+)", trailer.group(1))
        offset = int(prev.group(1)) if prev else None
    return sections[::-1]


def numbers_without_xref_entry(data: bytes) -> dict[int, list[int]]:
    """Per revision (by its xref offset), the object numbers below its /Size that no section up to it lists."""
    seen: set[int] = set()
    missing = {}
    for revision in xref_revisions(data):
        seen |= revision.numbers
        gap = sorted(set(range(revision.size)) - seen)
        if gap:
            missing[revision.offset] = gap
    return missing


def qpdf_check(pdf: Path) -> subprocess.CompletedProcess[str]:
    """``qpdf --check`` (exit 0: no errors, 3: warnings only)."""
    return subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, text=True, check=False)


def pdffonts(pdf: Path) -> list[tuple[str, bool]]:
    """(font name, embedded?) for every font pdffonts lists."""
    proc = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()[2:]
    fonts = []
    for line in lines:
        parts = line.split()
        # name type [type2] encoding emb sub uni object ID
        emb = parts[-5]
        fonts.append((parts[0], emb == "yes"))
    return fonts


def openssl_ts_verify(
    token: cms.ContentInfo, data: bytes, ca_pem: Path, tsa_pem: Path, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """``openssl ts -verify`` of ``token`` over ``data`` (the signature value it stamps)."""
    workdir.mkdir(parents=True, exist_ok=True)
    token_path = workdir / "token.der"
    data_path = workdir / "stamped.bin"
    token_path.write_bytes(token.dump())
    data_path.write_bytes(data)
    return subprocess.run(
        [
            "openssl", "ts", "-verify", "-data", str(data_path), "-in", str(token_path), "-token_in",
            "-CAfile", str(ca_pem), "-untrusted", str(tsa_pem),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def validate_with_pyhanko(pdf: Path | bytes, roots: list[Path]) -> list[tuple[str, bool, bool, bool]]:
    """pyHanko's own verdict per signature: (field, intact and valid, trusted, has a valid timestamp)."""
    from pyhanko.sign.validation import validate_pdf_signature

    from dpa.signing.trust import load_trust_roots, validation_context

    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfFileReader(io.BytesIO(data))
    context = validation_context(load_trust_roots(roots))
    result = []
    for sig in reader.embedded_signatures:
        status = validate_pdf_signature(sig, context, ts_validation_context=context)
        ts_ok = status.timestamp_validity is not None and status.timestamp_validity.valid
        result.append((sig.field_name, status.intact and status.valid, status.trusted, bool(ts_ok)))
    return result


def assert_signed_ok(pdf: Path | bytes, roots: list[Path], fields: list[str], *, timestamped: bool = True) -> None:
    """The quick check every test runs on the PDFs it signs: each expected field intact, valid, trusted, stamped."""
    verdicts = validate_with_pyhanko(pdf, roots)
    assert [v[0] for v in verdicts] == fields, verdicts
    for field, ok, trusted, ts_ok in verdicts:
        assert ok, f"{field}: signature not intact/valid"
        assert trusted, f"{field}: certificate not trusted"
        if timestamped:
            assert ts_ok, f"{field}: no valid timestamp"


# --- the embedded TSA as a real subprocess -----------------------------------------------------------------------


@dataclass
class TsaProcess:
    """A running ``dpa tsa serve`` subprocess."""

    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode


def start_tsa(config_path: Path, env: Mapping[str, str], *, port: int = 0, timeout: float = 20.0) -> TsaProcess:
    """Start ``dpa --config CONFIG tsa serve --port PORT`` (0: a free one) and read its URL from the first stdout
    line. With a development PKI it also serves that PKI's CRLs and OCSP: give the port its certificates name."""
    proc = subprocess.Popen(
        [*DPA, "--config", str(config_path), "tsa", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
        preexec_fn=die_with_parent(signal.SIGTERM),  # never outlives the test process, even when it is killed
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    match = re.search(rb"(http://127\.0\.0\.1:\d+/)", line)
    if not match:
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"dpa tsa serve did not start: {line!r} {err.decode(errors='replace')}")
    return TsaProcess(url=match.group(1).decode(), process=proc)


@contextlib.contextmanager
def running_tsa(config_path: Path, env: Mapping[str, str], *, port: int = 0) -> Iterator[TsaProcess]:
    """:func:`start_tsa` as a context manager that always stops the process."""
    tsa = start_tsa(config_path, env, port=port)
    try:
        yield tsa
    finally:
        tsa.stop()


def with_tsa_urls(config: Config, *urls: str) -> Config:
    """``config`` with ``[tsa] urls`` replaced."""
    return dataclasses.replace(config, tsa=dataclasses.replace(config.tsa, urls=tuple(urls)))


def free_port() -> int:
    """A loopback port nobody listens on (bound and released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def run_dpa(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -P -m dpa`` as a separate process (for tests about the process itself; most CLI tests use
    :func:`tests.cli_support.invoke`). ``env`` overrides variables (``None`` removes one)."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [*DPA, *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in environment.items() if v is not None},
        cwd=cwd,
        stdin=stdin,
        check=False,
        timeout=120,
    )


def have(tool: str) -> bool:
    """Whether an executable is on PATH."""
    return shutil.which(tool) is not None


PY = sys.executable

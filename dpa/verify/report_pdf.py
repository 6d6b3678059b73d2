"""The verification report as PDF/A-3b: what legal files with an agreement (``dpa verify FILE --report OUT.pdf``,
and "download report (PDF)" on the web).

It holds the document's SHA-256, the parties, for each signature the signer, the certificate chain as embedded in
the signature, the trusted time, the verdict and the reasons, the SHA-256 of each revision, the template version
and the effective date; for an agreement signed on the signing page also that page's evidence from the register
(given as lines by the caller, :meth:`dpa.portal.evidence.PortalEvidence.text`: how the signer was identified, the
hash-chained events). The verdicts are the :class:`~dpa.verify.report.DocumentReport`'s; this module only reads
the file for the facts the verdict does not carry (revisions, chains, metadata). It renders an autoescaped Jinja2
template with WeasyPrint, whose URL fetcher refuses every URL: the report loads nothing from outside.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from dpa import __version__
from dpa.errors import VerificationError
from dpa.roles import BY_ROLE, PARTIES
from dpa.verify.effective_date import amsterdam_text
from dpa.verify.report import DocumentReport, SignatureReport

TEMPLATE = Path(__file__).with_name("templates") / "report.html"
_EOF = re.compile(rb"%%EOF[ \t]*(\r\n|\r|\n)?")
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True, undefined=jinja2.StrictUndefined
)


@dataclass(frozen=True)
class Revision:
    """One revision: the file's bytes up to and including an ``%%EOF`` marker."""

    number: int
    end: int
    sha256: str


@dataclass(frozen=True)
class SignatureFacts:
    """What the file says about one signature beyond the verdict: its certificate chain (signer first)."""

    field: str
    chain: tuple[str, ...]


def printable(text: str | None) -> str:
    """A string from the file with control characters escaped (DESIGN.md §6: words legal can act on)."""
    if text is None:
        return ""
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def revisions(data: bytes) -> list[Revision]:
    """Every revision of ``data``, oldest first, by its ``%%EOF`` marker (the last one ends the file)."""
    found = []
    for number, match in enumerate(_EOF.finditer(data), start=1):
        end = match.end()
        found.append(Revision(number, end, hashlib.sha256(data[:end]).hexdigest()))
    return found


def _chain(signer: Any, others: list[Any]) -> tuple[str, ...]:
    """The signer's certificate and its issuers among the certificates embedded with it."""
    chain = [signer]
    while len(chain) < 10:
        current = chain[-1]
        if current.issuer == current.subject:
            break
        issuer = next((c for c in others if c.subject == current.issuer and c not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
    return tuple(printable(_rfc4514(cert)) for cert in chain)


def _rfc4514(cert: Any) -> str:
    """The subject DN as the verification report writes signers (RFC 4514)."""
    from cryptography import x509

    return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()


def signature_facts(data: bytes) -> tuple[dict[str, SignatureFacts], dict[str, str]]:
    """Certificate chains per signature field and the document's dpa metadata; empty when unreadable."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        facts = {}
        for sig in reader.embedded_signatures:
            others = list(sig.other_embedded_certs)
            facts[sig.field_name] = SignatureFacts(sig.field_name, _chain(sig.signer_cert, others))
        # not .get(): only [] dereferences the indirect /Info dictionary
        info = reader.trailer_view["/Info"] if "/Info" in reader.trailer_view else {}  # noqa: SIM401
        meta = {str(k): printable(str(info[k])) for k in info}
    except Exception:  # the verdict already says what is wrong with an unreadable file; here only facts go
        return {}, {}
    return facts, meta


def _problems_by_signature(report: DocumentReport) -> tuple[dict[str, list[str]], list[str]]:
    """The report's problems per signature field (``field: …``), and the document's own."""
    by_field: dict[str, list[str]] = {}
    document: list[str] = []
    for problem in report.problems:
        name, sep, rest = problem.partition(": ")
        if sep and any(s.field == name for s in report.signatures):
            by_field.setdefault(name, []).append(rest)
        else:
            document.append(problem)
    for sig in report.signatures:
        if sig.field not in by_field and sig.problems:
            by_field[sig.field] = list(sig.problems)
    return by_field, document


def _party(sig: SignatureReport) -> str:
    if sig.kind == "document_timestamp":
        return "document timestamp"
    return BY_ROLE[sig.role].label if sig.role in BY_ROLE else "party unknown"


def _time(sig: SignatureReport) -> str:
    if sig.timestamp is None and sig.proof_of_existence is not None:
        return f"no later than {amsterdam_text(sig.proof_of_existence)} (proof of existence: a document timestamp)"
    if sig.timestamp is not None:
        return f"{amsterdam_text(sig.timestamp)} (trusted timestamp)"
    if sig.claimed_signing_time is not None:
        return f"{amsterdam_text(sig.claimed_signing_time)} (signer's clock, not trusted)"
    return "none"


def report_html(report: DocumentReport, data: bytes, evidence: Sequence[str] = ()) -> str:
    """The report as HTML (the input of :func:`render_report_pdf`)."""
    facts, meta = signature_facts(data)
    by_field, document_problems = _problems_by_signature(report)
    signatures = [
        {
            "field": printable(sig.field),
            "party": _party(sig),
            "signer": printable(sig.signer) or "unknown",
            "chain": facts[sig.field].chain if sig.field in facts else (),
            "time": _time(sig),
            "verdict": sig.indication + (f" ({sig.sub_indication})" if sig.sub_indication else ""),
            "certification": sig.certification,
            "problems": [printable(p) for p in by_field.get(sig.field, [])],
        }
        for sig in report.signatures
    ]
    parties = [
        {"label": p.label, "signer": next((printable(s.signer) for s in report.signatures if s.role == p.role), None)}
        for p in PARTIES
    ]
    return _ENVIRONMENT.get_template(TEMPLATE.name).render(
        report=report,
        file=printable(report.file),
        sha256=report.sha256 or hashlib.sha256(data).hexdigest(),
        verdict=report.indication + (f" ({report.sub_indication})" if report.sub_indication else ""),
        parties=parties,
        title=meta.get("/Title", ""),
        customer_id=meta.get("/DPACustomerId", ""),
        template_version=meta.get("/DPATemplateVersion", ""),
        signatures=signatures,
        document_problems=[printable(p) for p in document_problems],
        revisions=revisions(data),
        made=amsterdam_text(datetime.now(UTC)),
        version=__version__,
        evidence=[printable(line) for line in evidence],
    )


def refusing_url_fetcher() -> Any:
    """WeasyPrint's URL fetcher for the report: every URL is refused, so nothing is ever loaded."""
    from weasyprint.urls import URLFetcher

    class RefuseEveryURL(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"the verification report loads nothing from outside (refused {url[:80]})")

    return RefuseEveryURL()


def render_report_pdf(report: DocumentReport, data: bytes, *, evidence: Sequence[str] = ()) -> bytes:
    """The verification report of ``data`` as PDF/A-3b bytes; ``evidence``: the signing page's evidence lines
    from the register, when the agreement was signed there."""
    import weasyprint

    try:
        html = report_html(report, data, evidence)
        document = weasyprint.HTML(string=html, url_fetcher=refusing_url_fetcher(), base_url=None)
        pdf: bytes = document.write_pdf(
            pdf_variant="pdf/a-3b", pdf_identifier=bytes.fromhex(report.sha256 or "00" * 16)[:16]
        )
    except (OSError, ValueError) as exc:
        raise VerificationError(f"cannot render the verification report: {exc}") from None
    return pdf

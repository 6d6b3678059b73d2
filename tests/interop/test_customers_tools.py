"""Customers counter-sign a real dpa-issued agreement with their own tools; legal's verdict must fit what they did.

Issue 10 and DESIGN §6: a timestamped signature in the prepared field is TOTAL_PASSED and ``dpa ingest`` accepts it;
the same without a timestamp is INDETERMINATE with the timestamp sentence, never TOTAL_FAILED; LibreOffice's
signature (in a new field) is readable; "Fill & Sign" is not complete and is described in words. Every counter-signed
file is also checked by poppler's ``pdfsig`` (both signatures valid) and ``qpdf --check``.

What each tool writes beyond its signature, as found by running them: poppler adds /M to the widget and rewrites the
old, empty appearance under a new generation of its object number (read leniently, judged by content); iText 5
rewrites the XMP in RDF shorthand (compared as RDF), raises the catalog's /ESIC extension to level 2 and writes the
header's version into the catalog's /Version (what its PAdES signature needs); Fill & Sign adds annotations, or
flattens a drawing into the page content.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dpa.roles import CONTROLLER, PROCESSOR
from dpa.verify.effective_date import AMSTERDAM
from dpa.verify.report import EXIT_FAILED, EXIT_INDETERMINATE, EXIT_OK, DocumentReport, exit_code
from dpa.verify.verifier import Verifier
from tests.interop.tools import (
    FILL_AND_SIGN_KINDS,
    ControllerKey,
    fill_and_sign,
    flatten_drawing,
    java_sign,
    libreoffice_sign,
    pdfsig_sign,
    pyhanko_cli,
)
from tests.signing_support import TsaProcess, pdfsig, qpdf_check

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.libreoffice]

Issue = Callable[[str], Path]
Ingest = Callable[[Path], subprocess.CompletedProcess[str]]
TIMESTAMP_SENTENCE = "has no RFC 3161 timestamp"
README = Path(__file__).resolve().parents[2] / "README.md"


# --- what every counter-signed file must also satisfy ------------------------------------------------------------


def assert_independently_valid(pdf: Path, nssdir: Path, signed_fields: list[str]) -> None:
    """pdfsig finds exactly ``signed_fields`` signed, each "Signature is Valid"; qpdf --check finds no error."""
    found = [s for s in pdfsig(pdf, nssdir) if "is not signed" not in s.raw]
    assert [s.field for s in found] == signed_fields, [s.raw for s in found]
    for signature in found:
        assert signature.signature_valid, signature.raw
    check = qpdf_check(pdf)
    assert check.returncode == 0, check.stdout + check.stderr


def signature(report: DocumentReport, field: str) -> tuple[str, str | None]:
    """(indication, sub-indication) of the signature in ``field``."""
    (found,) = [s for s in report.signatures if s.field == field]
    return found.indication, found.sub_indication


def assert_processor_intact(report: DocumentReport) -> None:
    """ipcall.me's certification is reported intact, whatever the customer did after it."""
    assert signature(report, PROCESSOR.field) == ("TOTAL_PASSED", None), report.to_json()


def assert_passed_and_ingested(report: DocumentReport, returned: Path, ingest: Ingest) -> None:
    """TOTAL_PASSED, complete, an effective date, exit 0, and ``dpa ingest`` accepts the file."""
    assert (report.indication, report.complete, exit_code([report])) == ("TOTAL_PASSED", True, EXIT_OK), (
        report.to_json()
    )
    assert report.effective_date is not None and report.problems == ()
    assert signature(report, CONTROLLER.field) == ("TOTAL_PASSED", None)
    result = ingest(returned)
    assert result.returncode == 0 and ": accepted " in result.stdout, result.stdout + result.stderr
    assert "effective from" in result.stdout


def assert_waits_for_a_timestamp(report: DocumentReport) -> None:
    """INDETERMINATE (exit 3) because the customer's signature has no timestamp; nothing TOTAL_FAILED."""
    assert (report.indication, exit_code([report])) == ("INDETERMINATE", EXIT_INDETERMINATE), report.to_json()
    assert not report.complete and report.effective_date is None
    assert all(s.indication != "TOTAL_FAILED" for s in report.signatures), report.to_json()
    assert_processor_intact(report)
    assert signature(report, CONTROLLER.field)[0] == "INDETERMINATE"
    assert any(p.startswith(f"{CONTROLLER.field}: ") and TIMESTAMP_SENTENCE in p for p in report.problems), (
        report.problems
    )


# --- pyHanko's CLI ------------------------------------------------------------------------------------------------


def test_pyhanko_cli_with_timestamp(
    issue_agreement: Issue,
    controller_key: ControllerKey,
    open_tsa: TsaProcess,
    customer_nssdir: Path,
    verifier: Verifier,
    ingest_cli: Ingest,
) -> None:
    issued = issue_agreement("C-PYHANKO-TS")
    returned = pyhanko_cli(issued, issued.with_name("returned.pdf"), controller_key, open_tsa.url)
    assert_independently_valid(returned, customer_nssdir, [PROCESSOR.field, CONTROLLER.field])
    assert_passed_and_ingested(verifier.verify_file(returned), returned, ingest_cli)


def test_pyhanko_cli_without_timestamp(
    issue_agreement: Issue, controller_key: ControllerKey, customer_nssdir: Path, verifier: Verifier
) -> None:
    issued = issue_agreement("C-PYHANKO")
    returned = pyhanko_cli(issued, issued.with_name("returned.pdf"), controller_key, None)
    assert_independently_valid(returned, customer_nssdir, [PROCESSOR.field, CONTROLLER.field])
    report = verifier.verify_file(returned)
    assert_waits_for_a_timestamp(report)
    # the README shows legal this very sentence
    (sentence,) = [p for p in report.problems if TIMESTAMP_SENTENCE in p]
    assert sentence in README.read_text(encoding="utf-8"), sentence


def test_pyhanko_cli_without_timestamp_is_ingested_no_later_than_today(
    issue_agreement: Issue, controller_key: ControllerKey, customer_nssdir: Path, verifier: Verifier, ingest_cli: Ingest
) -> None:
    """Issue 12 §5: ingest adds the archive timestamp and dates the untimestamped counter-signature by it."""
    issued = issue_agreement("C-PYHANKO-POE")
    returned = pyhanko_cli(issued, issued.with_name("returned.pdf"), controller_key, None)
    assert_independently_valid(returned, customer_nssdir, [PROCESSOR.field, CONTROLLER.field])
    assert_waits_for_a_timestamp(verifier.verify_file(returned))  # before ingest, as legal sees it today
    today = dt.datetime.now(AMSTERDAM).date()
    result = ingest_cli(returned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f": accepted (C-PYHANKO-POE): effective no later than {today.isoformat()} (" in result.stdout, result.stdout
    (stored,) = (issued.parent / "signed").glob("C-PYHANKO-POE+*.pdf")
    assert stored.read_bytes().startswith(returned.read_bytes())
    report = verifier.verify_file(stored)
    assert (report.indication, report.complete, report.effective_date) == ("TOTAL_PASSED", True, today), (
        report.to_json()
    )
    assert report.effective_date_basis == "proof_of_existence" and report.problems == ()
    (controller,) = [s for s in report.signatures if s.field == CONTROLLER.field]
    (archive,) = [s for s in report.signatures if s.kind == "document_timestamp"]
    assert controller.timestamp is None and controller.proof_of_existence == archive.timestamp is not None


def test_readme_tells_the_customer_how_to_sign_in_acrobat() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    section = text[text.index("**In Adobe Acrobat (or Reader)**") :]
    for needed in (
        CONTROLLER.anchor,  # the prepared field, by the words printed above it and its name in Acrobat
        CONTROLLER.field,
        "Preferences → Security → Time Stamp Servers",
        'Do **not** use "Fill & Sign"',
        "What legal sees",
        "instead of signing digitally",
        "instead of the prepared one",
    ):
        assert needed in section, needed


# --- poppler ---------------------------------------------------------------------------------------------------------


def test_poppler_pdfsig(
    issue_agreement: Issue, controller_key: ControllerKey, customer_nssdir: Path, verifier: Verifier
) -> None:
    issued = issue_agreement("C-POPPLER")
    returned = pdfsig_sign(issued, issued.with_name("returned.pdf"), customer_nssdir, controller_key)
    assert_independently_valid(returned, customer_nssdir, [PROCESSOR.field, CONTROLLER.field])
    report = verifier.verify_file(returned)
    assert report.sub_indication != "FORMAT_FAILURE", report.to_json()
    assert_waits_for_a_timestamp(report)


# --- iText 5 and PDFBox 2 -------------------------------------------------------------------------------------------

JAVA_CASES = [
    pytest.param("ItextSign", True, id="itext5-tsa"),
    pytest.param("ItextSign", False, id="itext5"),
    pytest.param("PdfboxSign", True, id="pdfbox2-tsa"),
    pytest.param("PdfboxSign", False, id="pdfbox2"),
]


@pytest.mark.parametrize(("program", "timestamped"), JAVA_CASES)
def test_java_signers(
    program: str,
    timestamped: bool,
    issue_agreement: Issue,
    controller_key: ControllerKey,
    java_classpath: str,
    open_tsa: TsaProcess,
    customer_nssdir: Path,
    verifier: Verifier,
    ingest_cli: Ingest,
) -> None:
    issued = issue_agreement(f"C-{program.upper()}{'-TS' if timestamped else ''}")
    tsa_url = open_tsa.url if timestamped else None
    returned = java_sign(program, java_classpath, issued, issued.with_name("returned.pdf"), controller_key, tsa_url)
    assert_independently_valid(returned, customer_nssdir, [PROCESSOR.field, CONTROLLER.field])
    report = verifier.verify_file(returned)
    if timestamped:
        assert_passed_and_ingested(report, returned, ingest_cli)
    else:
        assert_waits_for_a_timestamp(report)


# --- LibreOffice -------------------------------------------------------------------------------------------------


def test_libreoffice_signs_in_a_new_field(
    issue_agreement: Issue,
    controller_key: ControllerKey,
    customer_nssdir: Path,
    verifier: Verifier,
    interop_dir: Path,
) -> None:
    issued = issue_agreement("C-LIBREOFFICE")
    profile = interop_dir / "lo-profile"
    returned = libreoffice_sign(issued, issued.with_name("returned.pdf"), customer_nssdir, controller_key, profile)
    assert returned.read_bytes().startswith(issued.read_bytes()), "LibreOffice did not sign incrementally"
    signed = [s.field for s in pdfsig(returned, customer_nssdir) if "is not signed" not in s.raw]
    assert signed[0] == PROCESSOR.field and len(signed) == 2 and signed[1] != CONTROLLER.field, signed
    new_field = signed[1]
    assert_independently_valid(returned, customer_nssdir, [PROCESSOR.field, new_field])

    report = verifier.verify_file(returned)
    # readable: judged by its content, nothing FORMAT_FAILURE
    assert "FORMAT_FAILURE" not in [report.sub_indication] + [s.sub_indication for s in report.signatures]
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE"), report.to_json()
    assert exit_code([report]) == EXIT_INDETERMINATE and not report.complete
    assert_processor_intact(report)
    assert new_field in [s.field for s in report.signatures]
    words = " ".join(report.problems)
    assert "new field" in words and "instead of the prepared one" in words, report.problems


# --- Acrobat-style Fill & Sign ----------------------------------------------------------------------------------

OBJECT_NUMBER = re.compile(r"\b\d+ \d+ R\b|\bobject \d+")


def words_outside_parentheses(problems: tuple[str, ...]) -> str:
    """The problems with every parenthesised part removed: object numbers may only appear in there."""
    text = " ".join(problems)
    previous = None
    while previous != text:
        previous, text = text, re.sub(r"\([^()]*\)", "", text)
    return text


def assert_described_in_words(report: DocumentReport, page: int) -> None:
    """Names the page, and object numbers (if any) only in parentheses after the words."""
    words = words_outside_parentheses(report.problems)
    assert f"page {page}" in words, report.problems
    assert not OBJECT_NUMBER.search(words), report.problems


@pytest.mark.parametrize("kind", FILL_AND_SIGN_KINDS)
def test_fill_and_sign_in_the_box(kind: str, issue_agreement: Issue, verifier: Verifier) -> None:
    issued = issue_agreement(f"C-FILL-{kind.upper()}")
    returned = issued.with_name("returned.pdf")
    box = fill_and_sign(issued, returned, kind)
    assert returned.read_bytes().startswith(issued.read_bytes())
    check = qpdf_check(returned)
    assert check.returncode in (0, 3) and "error" not in check.stdout.lower(), check.stdout + check.stderr

    report = verifier.verify_file(returned)
    assert (report.indication, exit_code([report])) == ("INDETERMINATE", EXIT_INDETERMINATE), report.to_json()
    assert not report.complete and report.effective_date is None
    assert_processor_intact(report)
    assert_described_in_words(report, box.page + 1)
    words = " ".join(report.problems)
    action = {"ink": "drew", "freetext": "typed", "stamp": "stamp"}[kind]
    assert action in words, report.problems
    for phrase in ("in their box", "instead of signing digitally", "ask for a digital signature"):
        assert phrase in words, (phrase, report.problems)


def test_fill_and_sign_over_page_text(issue_agreement: Issue, verifier: Verifier) -> None:
    issued = issue_agreement("C-FILL-OUTSIDE")
    returned = issued.with_name("returned.pdf")
    box = fill_and_sign(issued, returned, "ink", reach_outside=True)

    report = verifier.verify_file(returned)
    assert (report.indication, exit_code([report])) == ("TOTAL_FAILED", EXIT_FAILED), report.to_json()
    assert not report.complete
    assert_processor_intact(report)  # the change is charged to the customer's revision
    assert_described_in_words(report, box.page + 1)
    words = " ".join(report.problems)
    assert "drew" in words or "ink" in words, report.problems


def test_fill_and_sign_flattened_into_the_box(issue_agreement: Issue, verifier: Verifier) -> None:
    """A drawing merged into the page's content inside the customer's box (issue 10 §6): INDETERMINATE, in words."""
    issued = issue_agreement("C-FLAT-IN")
    returned = issued.with_name("returned.pdf")
    box = flatten_drawing(issued, returned)
    assert returned.read_bytes().startswith(issued.read_bytes())
    check = qpdf_check(returned)
    assert check.returncode in (0, 3) and "error" not in check.stdout.lower(), check.stdout + check.stderr

    report = verifier.verify_file(returned)
    assert (report.indication, exit_code([report])) == ("INDETERMINATE", EXIT_INDETERMINATE), report.to_json()
    assert not report.complete and report.effective_date is None
    assert_processor_intact(report)
    assert_described_in_words(report, box.page + 1)
    words = " ".join(report.problems)
    for phrase in ("drew a signature in their box", "merged into the page", "ask for a digital signature"):
        assert phrase in words, (phrase, report.problems)


def test_fill_and_sign_flattened_over_page_text(issue_agreement: Issue, verifier: Verifier) -> None:
    """The same drawing reaching over the agreement's text above the box: TOTAL_FAILED, charged to that update."""
    issued = issue_agreement("C-FLAT-OUT")
    returned = issued.with_name("returned.pdf")
    box = flatten_drawing(issued, returned, reach_outside=True)

    report = verifier.verify_file(returned)
    assert (report.indication, exit_code([report])) == ("TOTAL_FAILED", EXIT_FAILED), report.to_json()
    assert not report.complete
    assert_processor_intact(report)
    assert_described_in_words(report, box.page + 1)
    assert "reaches outside the customer's box" in " ".join(report.problems), report.problems

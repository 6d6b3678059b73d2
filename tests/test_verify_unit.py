"""Verification pieces without LibreOffice or a TSA: effective date and time zones, --at, exit codes, the JSON
shape, the text report, the XMP comparison of the difference policy, walking folders."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import NumberObject, pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfStreamError
from pyhanko.pdf_utils.reader import PdfFileReader

from dpa.verify import speedups
from dpa.verify.effective_date import (
    AMSTERDAM,
    amsterdam_text,
    effective_date,
    parse_moment,
    parse_utc_iso,
    utc_iso,
)
from dpa.verify.report import (
    DOCUMENT_JSON_KEYS,
    INDETERMINATE,
    SIGNATURE_JSON_KEYS,
    TOTAL_FAILED,
    TOTAL_PASSED,
    DocumentReport,
    SignatureReport,
    exit_code,
    format_text,
    verdict_only,
)
from dpa.verify.report_pdf import report_html
from dpa.verify.verifier import iter_pdf_paths
from dpa.verify.xmp import xmp_change
from tests.signing_support import build_test_agreement

UTC = dt.UTC


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- effective date and time zones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (["2026-01-15T23:30:00"], dt.date(2026, 1, 16)),  # winter, CET = UTC+1: 00:30 next day
        (["2026-01-15T22:59:59"], dt.date(2026, 1, 15)),  # 23:59:59 CET
        (["2026-01-15T23:00:00"], dt.date(2026, 1, 16)),  # midnight CET
        (["2026-07-15T22:30:00"], dt.date(2026, 7, 16)),  # summer, CEST = UTC+2: 00:30 next day
        (["2026-07-15T21:59:59"], dt.date(2026, 7, 15)),
        (["2026-03-29T00:59:59"], dt.date(2026, 3, 29)),  # 01:59:59 CET, just before the clocks go forward
        (["2026-10-24T22:00:00"], dt.date(2026, 10, 25)),  # 00:00 CEST on the night they go back
        (["2026-01-15T10:00:00", "2026-01-15T23:30:00", "2026-01-14T23:30:00"], dt.date(2026, 1, 16)),  # latest
    ],
)
def test_effective_date_is_the_amsterdam_date_of_the_latest_timestamp(stamps: list[str], expected: dt.date) -> None:
    assert effective_date(utc(s) for s in stamps) == expected


def test_effective_date_edge_cases() -> None:
    assert effective_date([]) is None
    with pytest.raises(ValueError, match="no time zone"):
        effective_date([dt.datetime(2026, 1, 1, 12, 0)])
    # an offset other than UTC is converted, not trusted as local
    new_york = dt.datetime(2026, 1, 15, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert effective_date([new_york]) == dt.date(2026, 1, 16)


def test_times_for_people_are_amsterdam_with_offset() -> None:
    assert amsterdam_text(utc("2026-01-15T23:30:00")) == "2026-01-16 00:30:00 CET (+01:00)"
    assert amsterdam_text(utc("2026-07-15T22:30:00")) == "2026-07-16 00:30:00 CEST (+02:00)"


def test_json_times_are_utc() -> None:
    local = dt.datetime(2026, 7, 16, 0, 30, tzinfo=AMSTERDAM)
    assert utc_iso(local) == "2026-07-15T22:30:00Z"
    assert utc_iso(utc("2026-07-15T22:30:00.250000")) == "2026-07-15T22:30:00.250Z"
    assert parse_utc_iso("2026-07-15T22:30:00.250Z") == utc("2026-07-15T22:30:00.250000")
    assert utc_iso(None) is None and parse_utc_iso(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01", "2026-06-01T21:59:59"),  # end of the day in Amsterdam (CEST)
        ("2026-01-15T10:00", "2026-01-15T09:00:00"),  # Amsterdam time
        ("2026-01-15T10:00:30Z", "2026-01-15T10:00:30"),
        ("2026-01-15T10:00:00+02:00", "2026-01-15T08:00:00"),
        ("2026-01-15 10:00", "2026-01-15T09:00:00"),
    ],
)
def test_at_moments(text: str, expected: str) -> None:
    assert parse_moment(text) == utc(expected)


@pytest.mark.parametrize("text", ["gisteren", "2026-13-01", "2026-01-15T25:00", "15-01-2026", ""])
def test_at_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_moment(text)


# --- reports and exit codes --------------------------------------------------------------------------------------


def signature(**changes: object) -> SignatureReport:
    fields: dict[str, object] = {
        "field": "processor_signature",
        "role": "processor",
        "signer": "CN=ipcall.me,C=NL",
        "indication": TOTAL_PASSED,
        "sub_indication": None,
        "timestamp": utc("2026-01-15T23:30:00.125000"),
        "claimed_signing_time": utc("2026-01-15T23:29:59"),
        "coverage": "ENTIRE_FILE",
        "modification_level": "NONE",
        "certification": True,
    }
    fields.update(changes)
    return SignatureReport(**fields)  # type: ignore[arg-type]


def document(*sigs: SignatureReport, **changes: object) -> DocumentReport:
    fields: dict[str, object] = {
        "file": "a.pdf",
        "sha256": "00" * 32,
        "indication": TOTAL_PASSED,
        "sub_indication": None,
        "complete": True,
        "effective_date": dt.date(2026, 1, 16),
        "pades_level": "B-T",
        "problems": (),
        "signatures": sigs,
        "made_by_dpa": True,
    }
    fields.update(changes)
    return DocumentReport(**fields)  # type: ignore[arg-type]


def test_json_has_exactly_the_design_keys() -> None:
    report = document(signature(), signature(field="controller_signature", role="controller", certification=False))
    data = report.to_json()
    assert tuple(data) == DOCUMENT_JSON_KEYS
    assert [tuple(s) for s in data["signatures"]] == [SIGNATURE_JSON_KEYS] * 2
    assert data["effective_date"] == "2026-01-16"
    assert data["signatures"][0]["timestamp"] == "2026-01-15T23:30:00.125Z"
    assert DocumentReport.from_wire(report.to_wire()) == report


@pytest.mark.parametrize(
    ("indications", "complete", "require", "code"),
    [
        ([TOTAL_PASSED, TOTAL_PASSED], [True, True], False, 0),
        ([TOTAL_PASSED, TOTAL_PASSED], [True, True], True, 0),
        ([TOTAL_PASSED, TOTAL_PASSED], [True, False], False, 0),
        ([TOTAL_PASSED, TOTAL_PASSED], [True, False], True, 4),
        ([TOTAL_PASSED, INDETERMINATE], [True, False], True, 3),
        ([INDETERMINATE, TOTAL_FAILED], [False, False], False, 1),
        ([TOTAL_FAILED], [False], True, 1),
    ],
)
def test_exit_codes(indications: list[str], complete: list[bool], require: bool, code: int) -> None:
    reports = [document(indication=i, complete=c) for i, c in zip(indications, complete, strict=True)]
    assert exit_code(reports, require_complete=require) == code


def test_text_report_for_people() -> None:
    unstamped = signature(
        field="controller_signature",
        role="controller",
        indication=INDETERMINATE,
        sub_indication="SIG_CONSTRAINTS_FAILURE",
        timestamp=None,
        claimed_signing_time=utc("2026-07-15T22:30:00"),
        certification=False,
        problems=("the signature has no RFC 3161 timestamp",),
    )
    report = document(
        signature(),
        unstamped,
        indication=INDETERMINATE,
        sub_indication="SIG_CONSTRAINTS_FAILURE",
        complete=False,
        effective_date=None,
        problems=("controller_signature: the signature has no RFC 3161 timestamp",),
    )
    text = format_text(report)
    assert "Verwerker (processor)" in text and "Verwerkingsverantwoordelijke (controller)" in text
    assert "2026-01-16 00:30:00 CET (+01:00), trusted timestamp" in text
    assert "2026-07-16 00:30:00 CEST (+02:00), signer's clock, not trusted" in text
    assert "verdict: INDETERMINATE (SIG_CONSTRAINTS_FAILURE)" in text
    assert "- the signature has no RFC 3161 timestamp" in text
    assert "document: INDETERMINATE (SIG_CONSTRAINTS_FAILURE), PAdES B-T" in text
    assert "complete: no, no passing signature of Verwerkingsverantwoordelijke (controller)" in text
    assert "effective date: none" in text
    assert "effective date: 2026-01-16" in format_text(document(signature()))


def test_a_date_by_proof_of_existence_is_no_later_than_in_text_json_and_the_pdf_report() -> None:
    proof = utc("2026-01-20T09:00:00")
    controller = signature(
        field="controller_signature", role="controller", certification=False, timestamp=None, proof_of_existence=proof
    )
    report = document(
        signature(),
        controller,
        effective_date=dt.date(2026, 1, 20),
        effective_date_basis="proof_of_existence",
    )
    text = format_text(report)
    assert "time:    no later than 2026-01-20 10:00:00 CET (+01:00), proof of existence (document timestamp)" in text
    assert "effective date: no later than 2026-01-20 (Europe/Amsterdam, art. 12.1;" in text
    data = report.to_json()
    assert (data["effective_date_basis"], data["signatures"][1]["proof_of_existence"]) == (
        "proof_of_existence",
        "2026-01-20T09:00:00Z",
    )
    assert data["signatures"][0]["proof_of_existence"] is None
    assert DocumentReport.from_wire(report.to_wire()) == report
    html = report_html(report, b"%PDF-1.7\n%%EOF\n")
    assert "no later than 2026-01-20 10:00:00 CET (+01:00) (proof of existence" in html
    assert "no later than <strong>2026-01-20</strong>" in html
    assert "no later than" not in report_html(document(signature()), b"%PDF-1.7\n%%EOF\n")


def test_verdict_only_report() -> None:
    report = verdict_only("x.pdf", None, TOTAL_FAILED, "FORMAT_FAILURE", "the file is empty")
    assert report.to_json()["signatures"] == [] and report.to_json()["problems"] == ["the file is empty"]
    assert "! the file is empty" in format_text(report)


# --- the difference policy's XMP comparison ------------------------------------------------------------------------


def _xmp(data: bytes) -> bytes:
    stream = PdfFileReader(io.BytesIO(data)).root["/Metadata"]
    return bytes(stream.data)


def test_xmp_rewritten_by_another_tool_says_the_same() -> None:
    """pyHanko's writer re-serialises the whole XMP packet (attributes, new prefixes, new dates, its producer)."""
    original = build_test_agreement()
    writer = IncrementalPdfFileWriter(io.BytesIO(original))
    writer.root[pdf_name("/Dummy")] = NumberObject(1)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    before, after = _xmp(original), _xmp(out.getvalue())
    assert before != after
    assert xmp_change(before, after) is None
    changed = before.replace(b"Verwerkersovereenkomst (test)", b"Koopovereenkomst (test)")
    assert xmp_change(before, changed) is not None


# --- walking folders ---------------------------------------------------------------------------------------------


def test_folders_are_walked_for_pdfs(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    for name in ("a/2.pdf", "a/1.PDF", "b/3.pdf", "b/notes.txt", "0.pdf"):
        (tmp_path / name).write_bytes(b"%PDF-")
    single = tmp_path / "b" / "notes.txt"
    found = [p.relative_to(tmp_path).as_posix() for p in iter_pdf_paths([tmp_path, single])]
    assert found == ["0.pdf", "a/1.PDF", "a/2.pdf", "b/3.pdf", "b/notes.txt"]


# --- XMP compared as RDF (issue 10 §1) -------------------------------------------------------------------------------

RDF_OPEN = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
RDF_CLOSE = "</rdf:RDF></x:xmpmeta>"
NS = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"'
)


def packet(body: str) -> bytes:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' + RDF_OPEN + body + RDF_CLOSE).encode()


def expanded(title: str = "Verwerkersovereenkomst", modified: str = "2026-11-30T10:00:00Z") -> bytes:
    return packet(
        f'<rdf:Description rdf:about="" {NS}><dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li>'
        f"</rdf:Alt></dc:title><xmp:ModifyDate>{modified}</xmp:ModifyDate><xmpMM:History><rdf:Seq>"
        '<rdf:li rdf:parseType="Resource"><stEvt:action>created</stEvt:action><stEvt:softwareAgent>dpa'
        "</stEvt:softwareAgent></rdf:li></rdf:Seq></xmpMM:History></rdf:Description>"
    )


def shorthand(title: str = "Verwerkersovereenkomst", extra: str = "") -> bytes:
    """What iText writes: simple properties as attributes, also on rdf:li; split descriptions."""
    return packet(
        f'<rdf:Description rdf:about="" {NS} xmp:ModifyDate="2026-12-01T09:00:00Z"{extra}/>'
        f'<rdf:Description rdf:about="" {NS}><dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li>'
        '</rdf:Alt></dc:title><xmpMM:History><rdf:Seq><rdf:li stEvt:action="created" stEvt:softwareAgent="dpa"/>'
        "</rdf:Seq></xmpMM:History></rdf:Description>"
    )


def test_xmp_shorthand_on_rdf_li_says_the_same() -> None:
    assert xmp_change(expanded(), shorthand()) is None


def test_xmp_added_document_id_passes_but_a_changed_one_fails() -> None:
    with_id = shorthand(extra=' xmpMM:DocumentID="uuid:1234"')
    assert xmp_change(expanded(), with_id) is None
    assert xmp_change(with_id, shorthand(extra=' xmpMM:DocumentID="uuid:9999"')) is not None


def test_xmp_packet_added_with_bookkeeping_only_passes() -> None:
    bookkeeping = packet(
        f'<rdf:Description rdf:about="" {NS} xmlns:pdf="http://ns.adobe.com/pdf/1.3/" '
        'xmp:ModifyDate="2026-12-01T09:00:00Z" pdf:Producer="iText" xmpMM:DocumentID="uuid:1"/>'
    )
    assert xmp_change(None, bookkeeping) is None
    assert xmp_change(None, expanded()) is not None


@pytest.mark.parametrize(
    "hidden",
    [
        shorthand(title="Koopovereenkomst"),
        shorthand(extra=' dc:description="Artikel 10 geldt niet"'),
        packet(
            f'<rdf:Description rdf:about="" {NS}><dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
            "<!-- Verwerkersovereenkomst -->Koopovereenkomst</rdf:li></rdf:Alt></dc:title></rdf:Description>"
        ),
        expanded().replace(b"</rdf:RDF>", f'<rdf:Description rdf:about="" {NS} dc:title="Koop"/></rdf:RDF>'.encode()),
        b'<!DOCTYPE x:xmpmeta [<!ENTITY t "Verwerkersovereenkomst">]>'
        + expanded().split(b"?>", 1)[1].replace(b">Verwerkersovereenkomst<", b">&t;<"),
    ],
    ids=["shorthand-title", "shorthand-new-property", "comment", "second-description", "entity"],
)
def test_xmp_changes_hidden_in_any_form_fail(hidden: bytes) -> None:
    assert xmp_change(expanded(), hidden) is not None


# --- the hex-string reader (issue 15): pyHanko's semantics, faster ---------------------------------------------------

HEX_CASES = [
    b"<48656C6C6F> rest",
    b"<48 65\n6c\r\n6C\t6f\x00\x0c> rest",
    b"<486> odd digit count",
    b"<> empty",
    b"<FEFF00480069> a UTF-16 text string",
    b"<12G4> a stray letter",
    b"<12 % a comment > inside\n34> after",
    b"<1234",
    b"<" + b"0a" * 40_000 + b">tail",
    b"<" + b"ab" * 40_000,
    b"<12 34>>",
    b"<41 zz> a stray pair",
    b"<zz" + b"\x00" * 100 + b">",
]


@pytest.mark.parametrize("data", HEX_CASES, ids=range(len(HEX_CASES)))
def test_hex_string_reader_is_pyhankos(data: bytes) -> None:
    """The fast reader gives pyHanko's object (type and value), stream position and error for every case."""

    def outcome(reader: Callable[[io.BytesIO], object]) -> tuple[object, ...]:
        stream = io.BytesIO(data)
        try:
            value = reader(stream)
        except PdfStreamError as exc:
            return ("error", str(exc), stream.tell())
        return (type(value).__name__, bytes(value.original_bytes), stream.tell())  # type: ignore[attr-defined]

    assert outcome(speedups.read_hex_string) == outcome(speedups.PYHANKO_READER)


def test_hex_string_reader_is_installed_in_pyhankos_parser() -> None:
    speedups.install()
    parsed = generic.read_object(io.BytesIO(b"<30 31> 0"), generic.TrailerReference(None))  # type: ignore[arg-type]
    assert generic.read_hex_string_from_stream is speedups.read_hex_string
    assert bytes(parsed.original_bytes) == b"01"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    ["ipcall.me", "Klant  B.V.", "KLANT\u00adB.V.", "Ünïcødé ﬁrma", "tab\there", "", "x\u200by", "\ue000", "n" * 300],
)
def test_name_preparation_is_asn1cryptos(text: str) -> None:
    """The memoised RFC 4518 preparation gives asn1crypto's result, or its error, every time (also the second)."""

    def outcome(prep: Callable[[str], str]) -> tuple[str, str]:
        try:
            return ("prepared", prep(text))
        except ValueError as exc:
            return ("refused", str(exc))

    expected = outcome(lambda s: speedups.ASN1CRYPTO_PREP(None, s))  # type: ignore[arg-type]
    assert outcome(speedups.prepared) == expected
    assert outcome(speedups.prepared) == expected


def test_names_still_compare_by_rfc_4518_once_installed() -> None:
    from asn1crypto import x509 as asn1_x509

    speedups.install()
    a = asn1_x509.Name.build({"common_name": "Klant  B.V.", "country_name": "NL"})
    b = asn1_x509.Name.build({"common_name": "klant b.v.", "country_name": "NL"})
    c = asn1_x509.Name.build({"common_name": "Klant B.W.", "country_name": "NL"})
    assert a == b and a.hashable == b.hashable and a != c


def test_try_later_yields_to_any_other_reason_as_the_sub_indication() -> None:
    from dpa.verify.findings import decisive_sub_indication

    indeterminate = "INDETERMINATE"
    mixed = [(indeterminate, "TRY_LATER"), ("TOTAL_PASSED", None), (indeterminate, "NO_CERTIFICATE_CHAIN_FOUND")]
    assert decisive_sub_indication(mixed, indeterminate) == "NO_CERTIFICATE_CHAIN_FOUND"
    assert decisive_sub_indication([(indeterminate, "TRY_LATER")], indeterminate) == "TRY_LATER"
    failed = [(indeterminate, "TRY_LATER"), ("TOTAL_FAILED", "HASH_FAILURE")]
    assert decisive_sub_indication(failed, "TOTAL_FAILED") == "HASH_FAILURE"
    assert decisive_sub_indication([("TOTAL_PASSED", None)], "TOTAL_PASSED") is None


@pytest.mark.parametrize(
    ("indication", "level", "subs", "untimestamped", "expected"),
    [
        ("INDETERMINATE", "B-B", [None, "NO_POE"], "prove-existence", "no timestamp"),
        ("INDETERMINATE", "B-B", [None, "NO_POE"], "refuse", None),
        ("INDETERMINATE", "B-B", ["TRY_LATER", "TRY_LATER"], "refuse", None),  # refuse: never sealed first
        ("INDETERMINATE", "B-T", [None, "TRY_LATER"], "refuse", "revocation status"),
        ("INDETERMINATE", "B-T", [None, "NO_CERTIFICATE_CHAIN_FOUND"], "prove-existence", None),
        ("TOTAL_FAILED", "B-T", [None, "TRY_LATER"], "prove-existence", None),
        ("TOTAL_PASSED", "B-LT", [None, None], "prove-existence", None),
    ],
)
def test_which_returns_ingest_seals_before_judging(
    indication: str, level: str, subs: list[str | None], untimestamped: str, expected: str | None
) -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from dpa.workflows.proof import awaits_sealing

    report = SimpleNamespace(
        indication=indication, pades_level=level, signatures=[SimpleNamespace(sub_indication=s) for s in subs]
    )
    config = SimpleNamespace(ingest=SimpleNamespace(untimestamped=untimestamped))
    why = awaits_sealing(cast(Any, report), cast(Any, config))
    assert (why is None) if expected is None else (why is not None and expected in why), why

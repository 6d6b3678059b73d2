"""Issue 9 and 10 on the verify side, beyond the catalogue: the cases that need their own trust lists, clocks, files
on disk or the ``dpa verify`` process — each built as a real file, with the verdict, the exit code and "nothing
written" checked.

The agreement is the real one (LibreOffice), signed through SigningSession and the real ``dpa tsa serve``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from dpa.config import Config
from dpa.devtools.devpki import DevPki, issue_cert, make_ca
from dpa.errors import ConfigError
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.report import INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED
from dpa.verify.verifier import Verifier
from tests import tamper
from tests.signing_support import DPA

pytestmark = pytest.mark.libreoffice

UTC = dt.UTC


@pytest.fixture(scope="module")
def good(signing_config: Config, assembled_agreement: bytes) -> tamper.Signed:
    return tamper.sign_both(signing_config, assembled_agreement)


@pytest.fixture(scope="module")
def verifier(signing_config: Config) -> Iterator[Verifier]:
    with Verifier(signing_config) as v:
        yield v


def listing(folder: Path) -> list[tuple[str, int, float]]:
    """Every file under ``folder`` with its size and modification time (to show nothing was written)."""
    return sorted((str(p), p.lstat().st_size, p.lstat().st_mtime) for p in folder.rglob("*"))


def run_verify(config: Path, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DPA, "--config", str(config), "verify", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ,
        check=False,
    )


# --- cause 4: one trust list for signers, another for timestamp authorities ---------------------------------------


def test_customer_ca_trusted_for_signatures_cannot_mint_timestamps(
    good: tamper.Signed, dev_pki: DevPki, signing_config: Config, tmp_path: Path
) -> None:
    customer_ca = make_ca("Klant CA (eigen)")
    customer = issue_cert(customer_ca, "Klant met eigen CA", organization="Klant B.V.")
    own_tsa = issue_cert(customer_ca, "Klant eigen TSA", profile="tsa")
    with tamper.local_tsa(own_tsa) as stamper:
        signed = tamper.pyhanko_sign(good.half, "controller_signature", customer, stamper)
    signed = tamper.with_revocation_data(signed, customer_ca)
    path, ca_file = tmp_path / "eigen-tsa.pdf", tmp_path / "klant-ca.pem"
    path.write_bytes(signed)
    ca_file.write_bytes(customer_ca.cert_pem())
    before = listing(tmp_path)
    result = run_verify(dev_pki.config_path, "--json", "--trust", ca_file, path)
    report = json.loads(result.stdout)
    assert result.returncode == 3, result.stdout + result.stderr
    assert (report["indication"], report["sub_indication"]) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert "tsa_roots" in " ".join(report["problems"])
    assert report["effective_date"] is None and report["complete"] is False
    trusted = run_verify(dev_pki.config_path, "--json", "--trust", ca_file, "--trust-tsa", ca_file, path)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert json.loads(trusted.stdout)["complete"] is True
    assert listing(tmp_path) == before


def test_empty_tsa_roots_is_a_configuration_error(signing_config: Config) -> None:
    without = dataclasses.replace(signing_config, trust=dataclasses.replace(signing_config.trust, tsa_roots=()))
    with pytest.raises(ConfigError, match=r"\[trust\] tsa_roots .*--trust-tsa"):
        Verifier(without)


# --- cause 5: chosen dates -------------------------------------------------------------------------------------


def test_imprecise_timestamp_sets_no_effective_date(
    good: tamper.Signed, signing_config: Config, dev_pki: DevPki
) -> None:
    """20 days ahead with ±30 days: in the future now; 25 days later it is sound but cannot fix the date."""
    ahead = dt.datetime.now(UTC) + dt.timedelta(days=20)
    stamper = tamper.ImpreciseTimeStamper(dev_pki.tsa, dt.timedelta(days=30), fixed=ahead)
    signed = tamper.pyhanko_sign(good.half, "controller_signature", dev_pki.controller, stamper)
    # revocation data that speaks for the token's time, as an archive update made then would bring
    someone_else = tamper.issue_cert(dev_pki.ca, "Iemand anders")
    fresh = tamper.crl_revoking(dev_pki.ca, someone_else, ahead, issued=ahead + dt.timedelta(hours=1))
    signed = tamper.incremental(signed, tamper.add_dss_crl(fresh))
    with Verifier(signing_config) as now:
        report = now.verify_bytes(signed, "vooruit.pdf")
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE")
    assert report.effective_date is None
    with Verifier(signing_config, at=ahead + dt.timedelta(days=5)) as later:
        report = later.verify_bytes(signed, "vooruit.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete and report.effective_date is None
    assert any("accuracy of ±30 day(s), more than one minute" in p for p in report.problems)


# --- cause 6: every certificate of the chain valid at the signature's time --------------------------------------


def test_root_expired_before_the_signature_fails_and_later_expiry_does_not(
    assembled_agreement: bytes, signing_config: Config, tmp_path: Path
) -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    short_root = make_ca("Kortlevende root", not_before=start, not_after=dt.datetime(2026, 1, 1, tzinfo=UTC))
    long_root = make_ca("Langlevende root", not_before=start, valid_days=3650)
    results = {}
    for name, root in (("short", short_root), ("long", long_root)):
        processor = issue_cert(root, "ipcall.me (reis)", not_before=start, valid_days=3650)
        controller = issue_cert(root, "Klant (reis)", organization="Klant B.V.", not_before=start, valid_days=3650)
        tsa = issue_cert(long_root, "reis-TSA", profile="tsa", not_before=start, valid_days=3650)
        when = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
        with tamper.local_tsa(tsa, fixed=when) as stamper:
            half = tamper.pyhanko_sign(assembled_agreement, "processor_signature", processor, stamper, certify=True)
            full = tamper.pyhanko_sign(half, "controller_signature", controller, stamper)
        full = tamper.with_revocation_data(full, root, issued=when + dt.timedelta(minutes=5))
        pems = [tmp_path / f"{name}-root.pem", tmp_path / "long-root.pem"]
        pems[0].write_bytes(root.cert_pem())
        pems[1].write_bytes(long_root.cert_pem())
        config = tamper.accepting_processor(signing_config, processor, tmp_path)
        with Verifier(config, extra_trust=pems[:1], extra_tsa_trust=pems[1:]) as v:
            results[name] = v.verify_bytes(full, f"{name}.pdf")
    short = results["short"]
    assert short.indication != TOTAL_PASSED and not short.complete, short.problems
    assert any("CA certificate" in p and "expired" in p for p in short.problems), short.problems
    assert results["long"].indication == TOTAL_PASSED, results["long"].problems


# --- cause 10: hostile files and sizes ----------------------------------------------------------------------------


def test_fifo_is_not_read_alone_or_in_a_folder(dev_pki: DevPki, good: tamper.Signed, tmp_path: Path) -> None:
    folder = tmp_path / "retour"
    folder.mkdir()
    (folder / "a-goed.pdf").write_bytes(good.full)
    fifo = folder / "b-pijp.pdf"
    os.mkfifo(fifo)
    before = listing(tmp_path)
    alone = run_verify(dev_pki.config_path, "--json", fifo, timeout=90)
    report = json.loads(alone.stdout)
    assert (report["indication"], report["sub_indication"]) == ("INDETERMINATE", "GENERIC")
    assert "not a regular file (a FIFO)" in report["problems"][0]
    assert alone.returncode == 3
    walked = run_verify(dev_pki.config_path, "--json", folder, timeout=90)
    reports = [json.loads(line) for line in walked.stdout.splitlines()]
    assert [Path(r["file"]).name for r in reports] == ["a-goed.pdf", "b-pijp.pdf"]
    assert reports[0]["indication"] == "TOTAL_PASSED" and reports[1]["sub_indication"] == "GENERIC"
    assert walked.returncode == 3
    assert listing(tmp_path) == before


def empty_updates(data: bytes, count: int) -> bytes:
    """``count`` incremental updates that change nothing (an xref section with no entries each)."""
    out = bytearray(data)
    reader_prev = tamper.last_startxref(data)
    from pyhanko.pdf_utils.reader import PdfFileReader

    trailer = PdfFileReader(io.BytesIO(data)).trailer_view
    root, size = trailer.raw_get("/Root").reference, int(trailer["/Size"])
    info = trailer.raw_get("/Info").reference
    for _ in range(count):
        at = len(out)
        out += (
            f"xref\n0 0\ntrailer\n<< /Size {size} /Root {root.idnum} 0 R /Info {info.idnum} 0 R /Prev {reader_prev} "
            f">>\nstartxref\n{at}\n%%EOF\n"
        ).encode()
        reader_prev = at
    return bytes(out)


def test_thousands_of_empty_updates_are_refused_quickly(good: tamper.Signed, verifier: Verifier) -> None:
    report = verifier.verify_bytes(empty_updates(good.full, 3000), "3000.pdf")
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "GENERIC"), report.problems
    assert "3002 incremental updates" in report.problems[0] and "max_revisions" in report.problems[0]
    assert "longer than" not in report.problems[0]


def test_empty_updates_within_the_limit_are_judged(good: tamper.Signed, verifier: Verifier) -> None:
    report = verifier.verify_bytes(empty_updates(good.full, 20), "20.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete


# --- cause 11 and issue 10 §8: spoofed and unstable reports ------------------------------------------------------


def test_file_names_are_escaped_and_the_verdict_comes_first(
    dev_pki: DevPki, good: tamper.Signed, tmp_path: Path
) -> None:
    path = tmp_path / "goed\n  document: TOTAL_PASSED\u202e.pdf"
    path.write_bytes(good.full + b"x")
    result = run_verify(dev_pki.config_path, path)
    first = result.stdout.splitlines()[0]
    assert first.startswith("TOTAL_FAILED (FORMAT_FAILURE): ")
    assert "\\n" in first and "\\u202e" in first and "\u202e" not in result.stdout
    assert sum(line.startswith("  document: ") for line in result.stdout.splitlines()) == 1


def test_same_file_twice_gives_identical_json(dev_pki: DevPki, good: tamper.Signed, tmp_path: Path) -> None:
    """Also for messages that come from pyHanko's difference analysis (a changed catalog)."""
    files = []
    for name, data in {
        "goed": good.full,
        "catalogus": tamper.root_with(good.full, b"/Version /2.0"),
        "veld": tamper.incremental(good.full, tamper.add_text_field),
    }.items():
        files.append(tmp_path / f"{name}.pdf")
        files[-1].write_bytes(data)
    runs = [run_verify(dev_pki.config_path, "--json", *files).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    assert " at 0x" not in runs[0] and "Reference(" not in runs[0]


# --- cause 13: bugs are not verdicts -----------------------------------------------------------------------------


def test_a_bug_inside_the_engine_is_an_internal_error(good: tamper.Signed, signing_config: Config) -> None:
    def hostile(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a helper that breaks")

    with (
        Verifier(signing_config, isolate=False) as inline,
        mock.patch("dpa.verify.signature_checks.judge_signature_timestamp", hostile),
    ):
        report = inline.verify_bytes(good.full, "bug.pdf")
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "GENERIC")
    assert "internal error, please report" in report.problems[0]
    with Verifier(signing_config, isolate=False) as inline:
        assert inline.verify_bytes(good.full, "bug.pdf").indication == TOTAL_PASSED


# --- issue 10: what customers' tools produce ----------------------------------------------------------------------


def test_libreoffice_style_signing_time_never_fails(
    good: tamper.Signed, dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    with tamper.odd_signing_time("D:20261201085422Z'"):
        signed = tamper.pyhanko_sign(
            good.half, "controller_signature", dev_pki.controller, signing_config_stamper(signing_config)
        )
    report = verifier.verify_bytes(signed, "libreoffice-m.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete and report.effective_date is not None


def signing_config_stamper(config: Config) -> tamper.TimeStamper:
    return timestamper_from_config(config)


def test_signature_in_a_new_field_is_named_and_ipcall_me_stays_intact(
    good: tamper.Signed, dev_pki: DevPki, signing_config: Config, verifier: Verifier, tmp_path: Path
) -> None:
    from pyhanko.sign.fields import SigFieldSpec

    spec = SigFieldSpec("Handtekening1", on_page=-1, box=(320, 40, 530, 100))
    signed = tamper.pyhanko_sign(
        good.half, "Handtekening1", dev_pki.controller, signing_config_stamper(signing_config), new_field=spec
    )
    report = verifier.verify_bytes(signed, "nieuw-veld.pdf")
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"), report.problems
    processor, customer = report.signatures
    assert processor.indication == TOTAL_PASSED, processor.problems
    assert customer.sub_indication == "SIG_CONSTRAINTS_FAILURE"
    assert any("signed in a new field 'Handtekening1' on page" in p for p in report.problems), report.problems
    assert not report.complete
    path = tmp_path / "nieuw-veld.pdf"
    path.write_bytes(signed)
    assert run_verify(dev_pki.config_path, path).returncode == 3


def test_document_timestamp_with_validation_data_in_one_revision_is_b_lta(
    good: tamper.Signed, signing_config: Config, dev_pki: DevPki, verifier: Verifier
) -> None:
    from pyhanko.sign import signers
    from pyhanko.sign.validation import DocumentSecurityStore

    crl = tamper.crl_revoking(dev_pki.ca, issue_cert(dev_pki.ca, "Iemand anders"), dt.datetime.now(UTC))
    from asn1crypto import crl as asn1_crl

    writer = IncrementalPdfFileWriter(io.BytesIO(good.full))
    DocumentSecurityStore.supply_dss_in_writer(writer, None, crls=[asn1_crl.CertificateList.load(crl)])
    out = io.BytesIO()
    signers.PdfTimeStamper(signing_config_stamper(signing_config)).timestamp_pdf(writer, "sha256", output=out)
    report = verifier.verify_bytes(out.getvalue(), "lta-een-revisie.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.pades_level == "B-LTA"


def test_look_alike_ca_says_it_does_not_chain(good: tamper.Signed, dev_pki: DevPki, verifier: Verifier) -> None:
    from dpa.devtools.devpki import make_lookalike

    fake = issue_cert(make_lookalike(dev_pki.ca), "Klant", organization="Klant B.V.")
    signed = tamper.pyhanko_sign(good.half, "controller_signature", fake, None)
    report = verifier.verify_bytes(signed, "lookalike.pdf")
    text = " ".join(report.problems)
    assert "does not chain to a configured root" in text and "AssertionError" not in text
    assert report.indication == INDETERMINATE


def test_signature_in_a_new_field_over_the_text_fails(
    good: tamper.Signed, dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    from pyhanko.sign.fields import SigFieldSpec

    spec = SigFieldSpec("Over_de_tekst", on_page=0, box=(40, 500, 560, 800))
    signed = tamper.pyhanko_sign(
        good.half, "Over_de_tekst", dev_pki.controller, signing_config_stamper(signing_config), new_field=spec
    )
    report = verifier.verify_bytes(signed, "over-tekst.pdf")
    assert (report.indication, report.sub_indication) == (TOTAL_FAILED, "FORMAT_FAILURE"), report.problems
    assert any("on page 1 covers the agreement's text" in p for p in report.problems), report.problems
    assert report.signatures[0].indication == TOTAL_PASSED


def test_xmp_rewritten_by_another_rdf_serialiser_passes(good: tamper.Signed, verifier: Verifier) -> None:
    """The whole packet re-serialised by rdflib (nested, attributes, another order) plus a DocumentID: same facts."""
    import rdflib

    def transform(xmp: str) -> str:
        start, end = xmp.index("<rdf:RDF"), xmp.index("</rdf:RDF>") + len("</rdf:RDF>")
        graph = rdflib.Graph().parse(data=xmp[start:end], format="xml", publicID="uuid:dpa")
        graph.add((rdflib.URIRef("uuid:dpa"), rdflib.URIRef("http://ns.adobe.com/xap/1.0/mm/DocumentID"),
                   rdflib.Literal("uuid:0f1e2d3c")))  # fmt: skip
        body = graph.serialize(format="pretty-xml").split("?>", 1)[1]
        return f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{body}</x:xmpmeta>'

    class PlainWriter(IncrementalPdfFileWriter):  # type: ignore[misc]
        """pyHanko's incremental writer without its own XMP rewrite, so the packet stays as the test wrote it."""

        def _update_meta(self) -> None:
            return None

    writer = PlainWriter(io.BytesIO(good.full))
    tamper.replace_xmp(transform)(writer)
    out = io.BytesIO()
    writer.write(out)
    rewritten = out.getvalue()
    report = verifier.verify_bytes(rewritten, "rdf-herschreven.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete


def test_a_later_update_the_strict_reader_refuses_is_read_leniently(good: tamper.Signed, verifier: Verifier) -> None:
    """poppler's generation without a free entry, after dpa's revisions: judged by its content, not "corrupt"."""
    report = verifier.verify_bytes(tamper.orphaned_generation_update(good.full), "poppler-generatie.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.complete


# --- the two cases the issue names: the forged rewrite, and ipcall.me's own key in the customer's field ----------


def test_forged_rewrite_and_borrowed_key_through_dpa_verify(
    good: tamper.Signed, dev_pki: DevPki, signing_config: Config, tmp_path: Path
) -> None:
    names = {"processor_signature": "Verwerker_Handtekening", "controller_signature": "Klant_Handtekening"}
    forged = tamper.restart_without_prev(good.half, tamper.renamed_fields_rewrite(good.unsigned, names))
    stamper = signing_config_stamper(signing_config)
    files = {
        "vervalst.pdf": tamper.pyhanko_sign(forged, "Klant_Handtekening", dev_pki.controller, stamper),
        "eigen-sleutel.pdf": tamper.pyhanko_sign(good.half, "controller_signature", dev_pki.processor, stamper),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    before = listing(tmp_path)
    forged_run = run_verify(dev_pki.config_path, "--json", tmp_path / "vervalst.pdf")
    report = json.loads(forged_run.stdout)
    assert forged_run.returncode == 1
    assert (report["indication"], report["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    assert any("restarts without /Prev" in p for p in report["problems"]), report["problems"]
    own_key = run_verify(dev_pki.config_path, "--json", "--require-complete", tmp_path / "eigen-sleutel.pdf")
    report = json.loads(own_key.stdout)
    assert own_key.returncode == 3 and report["complete"] is False and report["effective_date"] is None
    assert any("ipcall.me's own certificates" in p for p in report["problems"]), report["problems"]
    assert listing(tmp_path) == before

"""Signing an agreement: processor certifies, controller counter-signs; checked by pdfsig, qpdf, openssl, pdffonts.

And every refusal: each error leaves no output file behind.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from dpa.config import Config
from dpa.devtools import devpki
from dpa.devtools.devpki import DevPki
from dpa.errors import ConfigError, SigningError, TimestampError
from dpa.signing.output import default_output_path
from dpa.signing.sign import SigningSession, sign_pdf
from tests.cli_support import invoke
from tests.seedtext import page_words
from tests.signing_support import (
    TsaProcess,
    assert_signed_ok,
    build_test_agreement,
    covered_revision,
    embedded_signatures,
    free_port,
    make_nss_db,
    numbers_without_xref_entry,
    openssl_ts_verify,
    pdffonts,
    pdfsig,
    qpdf_check,
    with_tsa_urls,
    xref_revisions,
)


@pytest.fixture(scope="module")
def nssdir(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_nss_db(tmp_path_factory.mktemp("nss"), dev_pki.ca_path)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_processor_then_controller(
    signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path, nssdir: Path, tmp_path: Path
) -> None:
    with SigningSession(signing_config) as session:
        first = session.sign(unsigned_pdf, "processor")
        assert first.output == tmp_path / "agreement.processor-signed.pdf"
        second = session.sign(first.output, "controller")
        assert second.output == tmp_path / "agreement.signed.pdf"
    assert first.certification and not second.certification
    assert first.timestamp is not None and second.timestamp is not None
    assert first.timestamp <= second.timestamp
    unsigned, half, full = unsigned_pdf.read_bytes(), first.output.read_bytes(), second.output.read_bytes()

    # incremental updates only: each file is a byte-for-byte prefix of the next
    assert half.startswith(unsigned) and full.startswith(half) and len(full) > len(half) > len(unsigned)

    # poppler: both signatures valid and trusted, the last one covering the whole file
    report = pdfsig(second.output, nssdir)
    assert [r.field for r in report] == ["processor_signature", "controller_signature"]
    for r in report:
        assert r.signature_valid and r.certificate_trusted, r.raw
    assert report[1].whole_document and not report[0].whole_document
    assert "ETSI.CAdES.detached" in report[0].raw and "SHA-256" in report[0].raw
    half_report = pdfsig(first.output, nssdir)
    assert half_report[0].signature_valid and half_report[0].whole_document
    assert "not signed" in half_report[1].raw  # the controller's field is still empty

    # qpdf finds no structural errors
    for path in (first.output, second.output):
        checked = qpdf_check(path)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    # each signature covers exactly its own revision; the first still covers the unsigned file plus itself
    sigs = embedded_signatures(full)
    assert [s.field for s in sigs] == ["processor_signature", "controller_signature"]
    assert covered_revision(full, sigs[0]) == half
    assert covered_revision(full, sigs[1]) == full
    assert sigs[0].certify and not sigs[1].certify

    # every signature timestamp verifies with openssl over the signature value it stamps
    for sig in sigs:
        assert sig.timestamp_token is not None
        verified = openssl_ts_verify(
            sig.timestamp_token, sig.signature_value, dev_pki.tsa_ca_path, dev_pki.tsa_cert_path, tmp_path / sig.field
        )
        assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr

    # pyHanko's validation agrees (and the first signature stays intact after the second)
    assert_signed_ok(second.output, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


def test_signature_dictionary_and_docmdp(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path) -> None:
    with SigningSession(signing_config) as session:
        first = session.sign(unsigned_pdf, "processor")
        assert first.output is not None
        second = session.sign(first.output, "controller")
        assert second.output is not None
    reader = PdfFileReader(io.BytesIO(second.output.read_bytes()))
    sig_p, sig_c = reader.embedded_signatures
    assert sig_p.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    refs = sig_p.sig_object["/Reference"]
    assert refs[0]["/TransformMethod"] == "/DocMDP" and refs[0]["/TransformParams"]["/P"] == 2
    assert reader.root["/Perms"]["/DocMDP"].get_object() is sig_p.sig_object
    assert "/Reference" not in sig_c.sig_object
    for sig in (sig_p, sig_c):
        attrs = sig.signer_info["signed_attrs"]
        types = [a["type"].native for a in attrs]
        assert "signing_certificate_v2" in types and "signing_time" not in types  # PAdES baseline
        assert sig.signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    assert_signed_ok(second.output, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


def test_other_signers_can_extend_it(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path) -> None:
    """Issue 10 §4: every object number below each revision's /Size has an xref entry (LibreOffice numbers new
    objects from the entry count), the DocMDP reference names its digest (ISO 32000-2, endesive), qpdf is clean."""
    with SigningSession(signing_config) as session:
        first = session.sign(unsigned_pdf, "processor")
        assert first.output is not None
        second = session.sign(first.output, "controller")
        assert second.output is not None
    for path in (unsigned_pdf, first.output, second.output):
        data = path.read_bytes()
        assert numbers_without_xref_entry(data) == {}, path.name
        check = qpdf_check(path)
        assert check.returncode == 0, check.stdout + check.stderr
    revisions = xref_revisions(second.output.read_bytes())
    assert len(revisions) == 3
    assert [r.size for r in revisions] == [max(r.numbers) + 1 for r in revisions], "a /Size beyond the objects"
    sig_p, _sig_c = PdfFileReader(io.BytesIO(second.output.read_bytes())).embedded_signatures
    (reference,) = sig_p.sig_object["/Reference"]
    assert reference["/TransformMethod"] == "/DocMDP" and reference["/DigestMethod"] == "/SHA256"
    assert_signed_ok(second.output, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


def test_stays_pdfa(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path) -> None:
    """XMP untouched, every font embedded (including the appearance's), appearance text readable."""
    with SigningSession(signing_config) as session:
        first = session.sign(unsigned_pdf, "processor")
        assert first.output is not None
        second = session.sign(first.output, "controller")
        assert second.output is not None
    original = unsigned_pdf.read_bytes()
    signed = second.output.read_bytes()
    assert b"xmpmeta" not in signed[len(original) :], "a signature update rewrote the XMP metadata"
    before = PdfFileReader(io.BytesIO(original)).root["/Metadata"].get_object().data
    after = PdfFileReader(io.BytesIO(signed)).root["/Metadata"].get_object().data
    assert after == before and b"pdfaid:part>2<" in after

    fonts = pdffonts(second.output)
    assert len(fonts) >= 3  # the document's own plus one per signature appearance
    assert all(embedded for _, embedded in fonts), fonts

    text = subprocess.run(["pdftotext", str(second.output), "-"], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()  # the two appearances sit side by side, so pdftotext interleaves their lines
    for expected in ("Digitaal ondertekend door", "ipcall.me (NIET VOOR PRODUCTIE)", "Namens Verwerker"):
        assert expected in lines
    assert "Namens Verwerkingsverantwoordelijke" in text
    assert "Voorbeeldklant B.V. (NIET VOOR PRODUCTIE)" in text
    assert len(re.findall(r"Ondertekend \d\d-\d\d-\d{4} \d\d:\d\d:\d\d CES?T \(klok van de ondertekenaar\)", text)) == 2
    assert_signed_ok(second.output, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


def test_names_outside_the_presubset_font(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path) -> None:
    """A signer name with characters beyond the cached Latin subset falls back to the full embedded font."""
    leaf = devpki.issue_cert(dev_pki.ca, "Ολυμπία Παπαδοπούλου", organization="Ελληνική Εταιρεία")
    leaf.write_pkcs12(unsigned_pdf.parent / "greek.p12", "pw")
    from dpa.config import SignerConfig

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GREEK_PW", "pw")
        override = SignerConfig(pkcs12=unsigned_pdf.parent / "greek.p12", passphrase_env="GREEK_PW")
        with SigningSession(signing_config, overrides={"processor": override}) as session:
            result = session.sign(unsigned_pdf, "processor")
    assert result.output is not None
    text = subprocess.run(["pdftotext", str(result.output), "-"], capture_output=True, text=True, check=True).stdout
    assert "Ολυμπία Παπαδοπούλου" in text
    assert all(embedded for _, embedded in pdffonts(result.output))
    assert_signed_ok(result.output, [dev_pki.ca_path], ["processor_signature"])


def test_sign_bytes_for_the_pipeline(signing_config: Config, dev_pki: DevPki, assembled_agreement: bytes) -> None:
    data = assembled_agreement
    with SigningSession(signing_config) as session:
        session.preload(["processor", "controller"])
        signed, result = session.sign_bytes(data, "processor")
        both, _ = session.sign_bytes(signed, "controller")
    assert signed.startswith(data) and both.startswith(signed)
    assert result.output is None and len(result.sha256) == 64
    assert_signed_ok(both, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


def test_default_output_names() -> None:
    assert default_output_path(Path("/x/acme.pdf"), "processor") == Path("/x/acme.processor-signed.pdf")
    assert default_output_path(Path("/x/acme.processor-signed.pdf"), "controller") == Path("/x/acme.signed.pdf")
    assert default_output_path(Path("/x/acme.pdf"), "controller") == Path("/x/acme.signed.pdf")
    assert default_output_path(Path("/x/acme.signed.pdf"), "processor") == Path("/x/acme.processor-signed.pdf")
    assert default_output_path(Path("/x/.signed.pdf"), "controller") == Path("/x/.signed.signed.pdf")


# --- refusals: a clear error and nothing written ----------------------------------------------------------------


def test_field_already_signed(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path, tmp_path: Path) -> None:
    with SigningSession(signing_config) as session:
        first = session.sign(unsigned_pdf, "processor")
        assert first.output is not None
        before = _files(tmp_path)
        with pytest.raises(SigningError, match=r"'processor_signature' .* is already signed"):
            session.sign(first.output, "processor", tmp_path / "again.pdf")
        assert _files(tmp_path) == before
    assert_signed_ok(first.output, [dev_pki.ca_path], ["processor_signature"])


def test_controller_before_processor(signing_config: Config, unsigned_pdf: Path, tmp_path: Path) -> None:
    with SigningSession(signing_config) as session, pytest.raises(SigningError, match="processor has not signed"):
        session.sign(unsigned_pdf, "controller")
    assert _files(tmp_path) == ["agreement.pdf"]


def test_pdf_without_our_fields(signing_config: Config, tmp_path: Path) -> None:
    pdf = tmp_path / "plain.pdf"
    pdf.write_bytes(build_test_agreement(fields=False))
    with (
        SigningSession(signing_config) as session,
        pytest.raises(SigningError, match="no signature field 'processor_signature'"),
    ):
        session.sign(pdf, "processor")
    assert _files(tmp_path) == ["plain.pdf"]


def test_encrypted_pdf(signing_config: Config, unsigned_pdf: Path, tmp_path: Path) -> None:
    encrypted = tmp_path / "locked.pdf"
    subprocess.run(["qpdf", "--encrypt", "user", "owner", "256", "--", str(unsigned_pdf), str(encrypted)], check=True)
    with SigningSession(signing_config) as session, pytest.raises(SigningError, match="is encrypted"):
        session.sign(encrypted, "processor")
    assert _files(tmp_path) == ["agreement.pdf", "locked.pdf"]


@pytest.mark.parametrize("content", [b"", b"hello, not a PDF", b"%PDF-1.7\n garbage without structure"])
def test_not_a_pdf(content: bytes, signing_config: Config, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pdf"
    bogus.write_bytes(content)
    with SigningSession(signing_config) as session, pytest.raises(SigningError, match="PDF"):
        session.sign(bogus, "processor")
    assert _files(tmp_path) == ["bogus.pdf"]


def test_missing_input(signing_config: Config, tmp_path: Path) -> None:
    with SigningSession(signing_config) as session, pytest.raises(SigningError, match="does not exist"):
        session.sign(tmp_path / "nope.pdf", "processor")


def test_output_equal_to_input_needs_in_place(
    signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path, tmp_path: Path
) -> None:
    original = unsigned_pdf.read_bytes()
    with SigningSession(signing_config) as session:
        with pytest.raises(SigningError, match="--in-place"):
            session.sign(unsigned_pdf, "processor", unsigned_pdf)
        with pytest.raises(SigningError, match="--in-place"):
            session.sign(unsigned_pdf, "processor", tmp_path / "." / "agreement.pdf")
        assert unsigned_pdf.read_bytes() == original
        result = session.sign(unsigned_pdf, "processor", in_place=True)
    assert result.output == unsigned_pdf
    assert unsigned_pdf.read_bytes().startswith(original)
    assert _files(tmp_path) == ["agreement.pdf"]
    assert_signed_ok(unsigned_pdf, [dev_pki.ca_path], ["processor_signature"])


def test_no_timestamp_only_when_asked(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path) -> None:
    dead = with_tsa_urls(signing_config, f"http://127.0.0.1:{free_port()}/")
    with SigningSession(dead) as session, pytest.raises(TimestampError):
        session.sign(unsigned_pdf, "processor")
    result = sign_pdf(dead, unsigned_pdf, "processor", timestamp=False)
    assert result.timestamp is None and result.output is not None
    assert embedded_signatures(result.output)[0].timestamp_token is None
    assert_signed_ok(result.output, [dev_pki.ca_path], ["processor_signature"], timestamped=False)


def test_no_tsa_configured(signing_config: Config, unsigned_pdf: Path) -> None:
    with pytest.raises(ConfigError, match="--tsa URL"):
        SigningSession(with_tsa_urls(signing_config))


# --- the command line -------------------------------------------------------------------------------------------


def test_cli_sign(dev_pki: DevPki, tsa_server: TsaProcess, unsigned_pdf: Path, nssdir: Path, tmp_path: Path) -> None:
    env = dict(dev_pki.secrets)
    config = str(dev_pki.config_path)
    first = invoke("--config", config, "sign", str(unsigned_pdf), "--as", "processor", "--tsa", tsa_server.url, env=env)
    assert first.returncode == 0, first.stderr
    half = Path(first.stdout.strip())
    assert half == tmp_path / "agreement.processor-signed.pdf"
    assert "certified processor_signature as ipcall.me" in first.stderr
    second = invoke(
        "--config", config, "-q", "sign", str(half), "--as", "controller", "--tsa", tsa_server.url,
        "-o", str(tmp_path / "final.pdf"), env=env,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == str(tmp_path / "final.pdf") and second.stderr == ""
    report = pdfsig(tmp_path / "final.pdf", nssdir)
    assert all(r.signature_valid and r.certificate_trusted for r in report) and report[-1].whole_document
    for secret in env.values():
        assert secret not in first.stdout + first.stderr + second.stdout + second.stderr


def test_cli_sign_with_p12_override(dev_pki: DevPki, tsa_server: TsaProcess, unsigned_pdf: Path) -> None:
    env = dict(dev_pki.secrets)
    first = invoke(
        "--config", str(dev_pki.config_path), "sign", str(unsigned_pdf), "--as", "processor",
        "--tsa", tsa_server.url, env=env,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = invoke(
        "--config", str(dev_pki.config_path), "sign", first.stdout.strip(), "--as", "controller",
        "--tsa", tsa_server.url, "--p12", str(dev_pki.directory / "controller.p12"),
        "--passphrase-env", devpki.CONTROLLER_PASSPHRASE_ENV, env=env,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert_signed_ok(Path(second.stdout.strip()), [dev_pki.ca_path], ["processor_signature", "controller_signature"])


def test_cli_errors_are_one_line_without_secrets(
    dev_pki: DevPki, tsa_server: TsaProcess, unsigned_pdf: Path, tmp_path: Path
) -> None:
    config = str(dev_pki.config_path)
    wrong = {**dev_pki.secrets, devpki.PROCESSOR_PASSPHRASE_ENV: "wrong-secret-value"}
    result = invoke(
        "--config", config, "sign", str(unsigned_pdf), "--as", "processor", "--tsa", tsa_server.url, env=wrong
    )
    assert result.returncode == 1
    assert result.stderr.startswith("dpa: error:") and len(result.stderr.strip().splitlines()) == 1
    assert "wrong passphrase" in result.stderr and "wrong-secret-value" not in result.stderr
    assert "Traceback" not in result.stderr

    dead = f"http://127.0.0.1:{free_port()}/"
    down = invoke(
        "--config", config, "sign", str(unsigned_pdf), "--as", "processor", "--tsa", dead, env=dev_pki.secrets
    )
    assert down.returncode == 1 and "no time-stamping authority" in down.stderr

    same = invoke(
        "--config", config, "sign", str(unsigned_pdf), "--as", "processor", "-o", str(unsigned_pdf),
        "--tsa", tsa_server.url, env=dev_pki.secrets,
    )  # fmt: skip
    assert same.returncode == 1 and "--in-place" in same.stderr
    usage = invoke("--config", config, "sign", str(unsigned_pdf), "--as", "processor", "--in-place", "-o", "x.pdf")
    assert usage.returncode == 2
    assert _files(tmp_path) == ["agreement.pdf"]

    no_ts = invoke(
        "--config", config, "sign", str(unsigned_pdf), "--as", "processor", "--no-timestamp", env=dev_pki.secrets
    )
    assert no_ts.returncode == 0 and "WITHOUT a timestamp" in no_ts.stderr
    assert_signed_ok(Path(no_ts.stdout.strip()), [dev_pki.ca_path], ["processor_signature"], timestamped=False)


def test_appearance_text_is_legible_and_inside_the_box(
    signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path
) -> None:
    """The embedded font's widths are right: words come out whole and stay inside the signature box.

    (pyHanko writes widths in font units; Liberation Sans has 2048 per em, which spread every letter to twice its
    width until the font was scaled to 1000 units.)
    """
    with SigningSession(signing_config) as session:
        result = session.sign(unsigned_pdf, "processor")
    assert result.output is not None
    reader = PdfFileReader(io.BytesIO(result.output.read_bytes()))
    page_count = int(reader.root["/Pages"]["/Count"])
    field = next(
        annot for annot in reader.root["/AcroForm"]["/Fields"] if annot.get_object()["/T"] == "processor_signature"
    ).get_object()
    x0, y0, x1, y1 = (float(v) for v in field["/Rect"])
    signature_page = page_count - 1  # the annex is the last page, the signature page the one before
    words = [w for w in page_words(result.output, signature_page) if x0 <= w[0] and w[1] >= y0 and w[3] <= y1]
    text = " ".join(w[4] for w in words)
    assert "Digitaal ondertekend door" in text and "Namens Verwerker" in text, text
    assert all(w[2] <= x1 for w in words), "appearance text runs out of the signature box"


def _font_programs(path: Path) -> set[bytes]:
    """Every embedded /FontFile2 font program of the PDF."""
    reader = PdfReader(path)
    programs = set()
    for number in range(1, int(reader.trailer["/Size"])):
        try:
            obj = reader.get_object(number)
        except Exception:  # free entries
            continue
        if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/FontDescriptor" and "/FontFile2" in obj:
            programs.add(obj["/FontFile2"].get_object().get_data())
    return programs


def test_appearance_font_subsets_are_made_once_per_glyph_set(
    signing_config: Config, unsigned_pdf: Path, tmp_path: Path
) -> None:
    from dpa.signing import appearance

    copies = [tmp_path / f"copy-{i}.pdf" for i in range(3)]
    for copy in copies:
        copy.write_bytes(unsigned_pdf.read_bytes())
    with SigningSession(signing_config) as session:
        first = session.sign(copies[0], "processor").output
        cached = len(appearance._SUBSETS)
        second = session.sign(copies[1], "processor").output
    assert first is not None and second is not None
    assert cached >= 1
    assert len(appearance._SUBSETS) <= cached + 1  # at most the digits of the time made a new glyph set
    body_fonts = _font_programs(unsigned_pdf)
    appearance_fonts = [_font_programs(signed) - body_fonts for signed in (first, second)]
    assert all(len(fonts) == 1 for fonts in appearance_fonts), appearance_fonts
    for fonts in appearance_fonts:
        (program,) = fonts
        assert program.startswith(b"\x00\x01\x00\x00")  # a TrueType font program, whole
    for signed in (first, second):
        pdfsig = subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True).stdout
        assert "Signature is Valid." in pdfsig, pdfsig
        page = int(PdfFileReader(io.BytesIO(signed.read_bytes())).root["/Pages"]["/Count"]) - 1
        text = " ".join(w[4] for w in page_words(signed, page))
        assert "Digitaal ondertekend door" in text and "Namens Verwerker" in text, text

"""Assembly end to end with real LibreOffice: text, PDF/A, metadata, signature fields, hostile names."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from dpa.assembly.convert import Converter
from dpa.assembly.templates import SIGNATURE_ANCHORS, TemplateSet
from dpa.config import Config
from dpa.errors import AssemblyError
from dpa.files import write_atomic
from dpa.records import CustomerRecord
from dpa.workflows.issue import assemble
from tests.cli_support import Invoked, invoke
from tests.conftest import REPO, docx_bytes, make_record
from tests.seedtext import normalise, page_words, pdf_text, seed_sentences
from tests.signing_support import numbers_without_xref_entry

pytestmark = pytest.mark.libreoffice

HOSTILE_NAMES = {
    "markup": "Jansen & Zn <B.V.> \"Test\" 'quote'",
    "accents": "Café Noëlle B.V.",
    "long": ("Coöperatieve Vereniging van Samenwerkende Telefonie Gebruikers en Bellers Noord " * 3)[:200].strip(),
    "jinja": "{{ 7*7 }} {% if true %}x{% endif %}",
}


def build(tmp_path: Path, converter: Converter, config: Config, record: CustomerRecord, **kw: bytes) -> Path:
    pdf = assemble(record, config, converter, contract=kw.get("contract"))
    path = tmp_path / f"{record.id}.pdf"
    write_atomic(path, pdf)
    return path


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory, converter: Converter, config: Config) -> Path:
    return build(tmp_path_factory.mktemp("gen"), converter, config, make_record(name=HOSTILE_NAMES["markup"]))


def test_every_seed_sentence_and_the_customer_details(agreement: Path) -> None:
    text = pdf_text(agreement)
    missing = [s for s in seed_sentences() if s not in text]
    assert not missing, missing[:5]
    for value in (HOSTILE_NAMES["markup"], "12345678", "Oudegracht 12", "3511 AB", "Utrecht", "J. de Vries"):
        assert value in text
    assert "OVK-2026-0042" in text  # contract_ref sentence
    assert "{{" not in text and "{%" not in text


def test_contract_reference_only_when_given(tmp_path: Path, converter: Converter, config: Config) -> None:
    path = build(tmp_path, converter, config, make_record(contract_ref=""))
    assert "kenmerk" not in pdf_text(path)


def test_pdfa_declared_fonts_embedded_and_qpdf_clean(agreement: Path) -> None:
    subprocess.run(["qpdf", "--check", str(agreement)], check=True, capture_output=True)
    assert numbers_without_xref_entry(agreement.read_bytes()) == {}
    reader = PdfReader(agreement)
    xmp = reader.xmp_metadata
    assert xmp is not None
    raw = xmp.stream.get_data().decode()
    assert "<pdfaid:part>2</pdfaid:part>" in raw and "<pdfaid:conformance>B</pdfaid:conformance>" in raw
    stream = reader.trailer["/Root"]["/Metadata"].get_object()  # PDF/A-2 6.6.2.1: typed, unfiltered
    assert stream["/Type"] == "/Metadata" and stream["/Subtype"] == "/XML" and "/Filter" not in stream
    assert "/OutputIntents" in reader.trailer["/Root"]
    fonts = subprocess.run(["pdffonts", str(agreement)], check=True, capture_output=True, text=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows, fonts
    for row in rows:
        # columns: name type encoding emb sub uni object ID
        assert row.split()[-5] == "yes", f"font not embedded: {row}"


def test_metadata_records_customer_template_and_record(agreement: Path, config: Config) -> None:
    info = PdfReader(agreement).metadata
    assert info is not None
    record = make_record(name=HOSTILE_NAMES["markup"])
    assert info["/DPACustomerId"] == "C-1001"
    assert info["/DPATemplateVersion"] == TemplateSet.load(config.paths.templates).version
    assert info["/DPARecordSHA256"] == record.sha256()
    assert info["/Title"].endswith(HOSTILE_NAMES["markup"])


def test_signature_fields_empty_on_signature_page_inside_boxes(agreement: Path) -> None:
    reader = PdfReader(agreement)
    fields = {}
    for index, page in enumerate(reader.pages):
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if annot.get("/FT") == "/Sig":
                fields[annot["/T"]] = (index, [float(v) for v in annot["/Rect"]], annot)
    assert set(fields) == set(SIGNATURE_ANCHORS)
    form_fields = [f.get_object()["/T"] for f in reader.trailer["/Root"]["/AcroForm"]["/Fields"]]
    assert sorted(form_fields) == sorted(SIGNATURE_ANCHORS)
    signature_page = next(
        i for i, p in enumerate(reader.pages) if "Aldus overeengekomen en ondertekend" in p.extract_text()
    )
    rects = []
    for name, (index, rect, annot) in fields.items():
        assert "/V" not in annot, f"{name} is not empty"
        assert annot["/TU"] == SIGNATURE_ANCHORS[name]  # the name Acrobat shows for the field
        assert annot["/F"] == 4 and annot["/AP"]["/N"].get_object()["/Subtype"] == "/Form"  # printable, PDF/A
        assert index == signature_page
        box = reader.pages[index].mediabox
        x0, y0, x1, y1 = rect
        assert float(box.left) <= x0 < x1 <= float(box.right)
        assert float(box.bottom) <= y0 < y1 <= float(box.top)
        # nothing printed inside the field, and its anchor line right above it
        words = page_words(agreement, index + 1)
        inside = [w for w in words if w[0] < x1 and w[2] > x0 and w[1] < y1 and w[3] > y0]
        assert not inside, f"{name} covers text: {inside}"
        above = [w[4] for w in words if y1 <= w[1] <= y1 + 20 and x0 - 1 <= w[0] <= x1]
        assert " ".join(above).startswith(SIGNATURE_ANCHORS[name]), above
        rects.append(rect)
    (a, b) = rects
    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "fields overlap"


@pytest.mark.parametrize("kind", sorted(HOSTILE_NAMES))
def test_names_come_out_exactly(tmp_path: Path, converter: Converter, config: Config, kind: str) -> None:
    name = HOSTILE_NAMES[kind]
    path = build(tmp_path, converter, config, make_record(name=name))
    text = pdf_text(path)
    assert normalise(name) in text
    if kind == "jinja":
        assert "49" not in text.replace("OVK-2026-0042", "")
    reader = PdfReader(path)
    assert len([a for p in reader.pages for a in p.get("/Annots") or []]) == 2


def test_annex_rows_from_the_record(tmp_path: Path, converter: Converter, config: Config) -> None:
    rows = [
        {
            "data_subjects": "Medewerkers",
            "data_categories": ["Naam", "Dienstrooster"],
            "purposes": "Planning.",
        },
        {"data_subjects": "Bellers", "data_categories": ["Telefoonnummer"], "purposes": "Doorschakelen."},
    ]
    text = pdf_text(build(tmp_path, converter, config, make_record(annex_rows=rows)))
    for value in ("Medewerkers", "Dienstrooster", "Planning.", "Bellers", "Doorschakelen."):
        assert value in text
    assert "Gebruikers en subgebruikers" not in text


def test_contract_goes_in_front(tmp_path: Path, converter: Converter, config: Config) -> None:
    contract = converter.convert(docx_bytes("Dienstenovereenkomst OVK-2026-0042"), "contract")
    path = build(tmp_path, converter, config, make_record(), contract=contract)
    reader = PdfReader(path)
    assert "Dienstenovereenkomst OVK-2026-0042" in reader.pages[0].extract_text()
    assert "VERWERKERSOVEREENKOMST" in reader.pages[1].extract_text()
    last_body = next(i for i, p in enumerate(reader.pages) if "Aldus overeengekomen" in p.extract_text())
    sig_pages = {
        i for i, p in enumerate(reader.pages) for a in p.get("/Annots") or [] if a.get_object().get("/FT") == "/Sig"
    }
    assert sig_pages == {last_body}


def test_contract_must_be_pdfa(tmp_path: Path, converter: Converter, config: Config) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    plain = io.BytesIO()
    writer.write(plain)
    with pytest.raises(AssemblyError, match="not PDF/A"):
        assemble(make_record(), config, converter, contract=plain.getvalue())
    with pytest.raises(AssemblyError, match="not a readable PDF"):
        assemble(make_record(), config, converter, contract=b"%PDF-1.7 garbage")


def broken_template_copy(tmp_path: Path, replacements: dict[str, str]) -> Path:
    """A copy of templates/ whose body's document.xml has ``replacements`` applied."""
    root = tmp_path / "templates"
    (root / "nl").mkdir(parents=True)
    for name in ("verwerkersovereenkomst.docx", "bijlage-1.docx"):
        source = REPO / "dpa" / "templates" / "nl" / name
        if name != "verwerkersovereenkomst.docx":
            (root / "nl" / name).write_bytes(source.read_bytes())
            continue
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(root / "nl" / name, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename == "word/document.xml":
                    xml = data.decode("utf-8")
                    for old, new in replacements.items():
                        assert old in xml, old
                        xml = xml.replace(old, new)
                    data = xml.encode("utf-8")
                zout.writestr(item, data)
    return root


def dpa(*args: str, cwd: Path | None = None) -> Invoked:
    return invoke(*args, cwd=cwd)


def test_templates_check_good_and_broken(tmp_path: Path) -> None:
    good = dpa("templates", "check", str(REPO / "dpa" / "templates"))
    assert good.returncode == 0, good.stdout + good.stderr
    broken = broken_template_copy(
        tmp_path,
        {"customer.name": "customer_nmae", "Handtekening Verwerkingsverantwoordelijke": "Handtekening"},
    )
    result = dpa("templates", "check", str(broken))
    assert result.returncode == 1
    assert "undeclared variable 'customer_nmae'" in result.stdout
    broken2 = broken_template_copy(tmp_path / "2", {"Handtekening Verwerkingsverantwoordelijke": "Handtekening"})
    result = dpa("templates", "check", str(broken2))
    assert result.returncode == 1
    assert "anchor 'Handtekening Verwerkingsverantwoordelijke'" in result.stdout


def write_record(tmp_path: Path, body: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD_TOML = 'id = "C-9"\nname = "Goed B.V."\nkvk = "12345678"\n'


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('id = "C-9"\nname = "X"\nkvk = "1234"\n', "kvk"),
        ('id = "C-9"\nname = "X"\nkvk = "12345678"\npostcode = "ABCD 12"\n', "postcode"),
        ('id = "C-9"\nname = "X"\nkvk = "12345678"\nemail = "x@"\n', "email"),
        ('id = "C-9"\nkvk = "12345678"\n', "name"),
        ('id = "C-9"\nname = "X"\nkvk = "12345678"\nfax = "1"\n', "fax"),
        ('id = "C-9"\nname = "X\\u0007Y"\nkvk = "12345678"\n', "name"),
        ('id = "C-9"\nname = "X\\u202eY"\nkvk = "12345678"\n', "name"),
        ('id = "../etc/passwd"\nname = "X"\nkvk = "12345678"\n', "id"),
    ],
)
def test_cli_bad_record_one_line_nothing_written(tmp_path: Path, toml: str, field: str) -> None:
    out = tmp_path / "out.pdf"
    result = dpa("generate", str(write_record(tmp_path, toml)), "-o", str(out))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpa: error:"), result.stderr
    assert f"{field}:" in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "c.toml"]


def test_cli_unreadable_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_bytes(b'id = "\xff"\n')
    for path, message in ((bad, "not UTF-8"), (tmp_path / "absent.toml", "cannot read")):
        result = dpa("generate", str(path), "-o", str(tmp_path / "o.pdf"))
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.pdf").exists()


def test_cli_broken_template_is_a_clear_error(tmp_path: Path) -> None:
    broken = broken_template_copy(tmp_path, {"customer.name": "customer.nmae"})
    (tmp_path / "dpa.toml").write_text(f'[paths]\ntemplates = "{broken}"\n', encoding="utf-8")
    record = write_record(tmp_path, GOOD_TOML)
    result = dpa("generate", str(record), "-o", str(tmp_path / "o.pdf"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "nmae" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.pdf").exists()


def test_cli_generate_writes_the_pdf(tmp_path: Path) -> None:
    result = dpa("generate", str(REPO / "templates" / "examples" / "customer.toml"), "-o", str(tmp_path / "a.pdf"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "a.pdf")
    assert PdfReader(tmp_path / "a.pdf").metadata["/DPACustomerId"]  # type: ignore[index]
    assert [p.name for p in tmp_path.iterdir()] == ["a.pdf"]  # no temporary files left behind


def test_customer_name_repeating_an_anchor_is_refused(converter: Converter, config: Config) -> None:
    with pytest.raises(AssemblyError, match="found 2 times on the signature page"):
        assemble(make_record(name="Handtekening Verwerker B.V."), config, converter)

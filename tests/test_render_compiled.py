"""The compiled template (parsed and compiled once) renders what docxtpl itself renders, and the composed
agreement carries Annex 1 in a section of its own."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from dpa.assembly.compiled import CompiledDocx
from dpa.assembly.convert import Converter
from dpa.assembly.render import render_agreement, render_docx, template_context
from dpa.assembly.templates import CORE_PROPERTIES, TemplateSet, jinja_environment
from dpa.config import EXAMPLE_PROCESSOR, Config
from dpa.errors import TemplateError
from dpa.workflows.issue import assemble
from tests.conftest import make_record
from tests.seedtext import normalise

NAMES = ("Jansen & Zn <B.V.> \"Test\" 'quote'", "Café Noëlle B.V.", "{{ 7*7 }} {% if true %}x{% endif %}")


def _parts(docx: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _canonical(xml: bytes) -> bytes:
    return etree.tostring(etree.fromstring(xml), method="c14n")


def _core_properties(xml: bytes) -> dict[str, str]:
    return {etree.QName(e).localname: e.text or "" for e in etree.fromstring(xml)}


@pytest.mark.parametrize("name", NAMES)
def test_compiled_render_equals_docxtpl_render(name: str, config: Config) -> None:
    templates = TemplateSet.load(config.paths.templates)
    record = make_record(name=name)
    ours = _parts(render_agreement(record, EXAMPLE_PROCESSOR, templates))
    theirs = _parts(render_docx(templates.agreement_bytes, template_context(record, EXAMPLE_PROCESSOR), "x"))
    assert sorted(ours) == sorted(theirs)
    for part, data in ours.items():
        if part == "docProps/core.xml":  # the same fixed values; python-docx only orders the elements differently
            assert _core_properties(data) == _core_properties(theirs[part])
        elif part.endswith((".xml", ".rels")):
            assert _canonical(data) == _canonical(theirs[part]), part
        else:
            assert data == theirs[part], part
    texts = "".join(etree.fromstring(ours["word/document.xml"]).itertext())
    assert name in texts  # the value as data: markup escaped, Jinja syntax never evaluated


def test_template_tags_outside_the_rendered_parts_are_refused(config: Config) -> None:
    templates = TemplateSet.load(config.paths.templates)
    source = _parts(templates.agreement_bytes)
    source["docProps/app.xml"] = source["docProps/app.xml"].replace(
        b"</Properties>", b"{{ customer.name }}</Properties>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for part, data in source.items():
            archive.writestr(part, data)
    with pytest.raises(TemplateError, match=r"docProps/app\.xml"):
        CompiledDocx(out.getvalue(), jinja_environment(), CORE_PROPERTIES, "nl")


@pytest.mark.libreoffice
def test_annex_is_a_section_of_its_own_after_the_signature_page(
    tmp_path: Path, converter: Converter, config: Config
) -> None:
    reader = PdfReader(io.BytesIO(assemble(make_record(), config, converter)))
    pages = [normalise(page.extract_text()) for page in reader.pages]
    total = len(pages)
    annex = [i for i, text in enumerate(pages) if text.startswith("Bijlage 1: Omschrijving verwerkingen")]
    assert annex == [total - 1], pages[-2:]
    assert pages[-1].endswith(f"Bijlage 1 – {total} / {total}")  # its own footer; page numbers run on
    signature_page = pages[-2]
    assert "Handtekening Verwerker" in signature_page and "Handtekening Verwerkingsverantwoordelijke" in signature_page
    assert signature_page.endswith(f"{total - 1} / {total}") and "Bijlage 1 –" not in signature_page
    widgets = [annot.get_object() for annot in reader.pages[-2].get("/Annots", [])]
    assert sorted(str(w["/T"]) for w in widgets) == ["controller_signature", "processor_signature"]


def test_templates_check_wants_the_annex_heading(tmp_path: Path) -> None:
    from dpa.assembly.lint import check_templates

    root = tmp_path / "templates"
    (root / "nl").mkdir(parents=True)
    shipped = Config().paths.templates / "nl"
    (root / "nl" / "verwerkersovereenkomst.docx").write_bytes((shipped / "verwerkersovereenkomst.docx").read_bytes())
    annex = _parts((shipped / "bijlage-1.docx").read_bytes())
    annex["word/document.xml"] = annex["word/document.xml"].replace(b"Bijlage 1: Omschrijving", b"Annex: Omschrijving")
    with zipfile.ZipFile(root / "nl" / "bijlage-1.docx", "w") as archive:
        for part, data in annex.items():
            archive.writestr(part, data)
    assert check_templates(root) == ["bijlage-1.docx: Annex 1 must start with its heading 'Bijlage 1…'"]
    assert check_templates(Config().paths.templates) == []


def test_rendering_from_many_threads_at_once(config: Config) -> None:
    """A batch renders in several threads with one compiled template: every result is a whole, valid DOCX."""
    from concurrent.futures import ThreadPoolExecutor

    templates = TemplateSet.load(config.paths.templates)
    records = [make_record(id=f"T-{i}", name=f"Klant {i} B.V.") for i in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda r: render_agreement(r, EXAMPLE_PROCESSOR, templates), records))
    for record, docx in zip(records, results, strict=True):
        with zipfile.ZipFile(io.BytesIO(docx)) as archive:
            assert archive.testzip() is None
            texts = "".join(etree.fromstring(archive.read("word/document.xml")).itertext())
        assert record.name in texts

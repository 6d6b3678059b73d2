"""Build the two Word templates of the agreement from the seed text.

``dpa/templates/nl/verwerkersovereenkomst.docx`` (the agreement body and the signature page) and
``dpa/templates/nl/bijlage-1.docx`` (Annex 1) are the source of the legal text: legal edits them in Word, and the
SHA-256 of those files is the template version that every agreement records (art. 12.4). This script is how
their first version was produced from the legal source text, kept verbatim in the repository as
``dpa/templates/source/verwerkersovereenkomst.txt``, and it can regenerate them.
Regenerating overwrites any edit made in Word.

The seed text is copied verbatim; only its markup is dropped: the markdown ``**`` markers (those words are set
in bold, the quotes around them stay), the leading ``- `` bullet markers, and the page markers ``N / 7`` (page
footers of the original). Sentences that the original broke across a page are joined again. The script checks
the result against the seed before it writes anything.

Template contract (docxtpl / Jinja2, rendered with autoescape and StrictUndefined)::

    processor:  name, street, postcode, city, country_name, kvk, signatory_name, signatory_title
    customer:   id, name, street, postcode, city, country_name, kvk, email, signatory_name, signatory_title,
                contract_ref
    annex_rows: list of {data_subjects: str, data_categories: list[str], purposes: str}

Every Jinja tag is written in a single run. The signature page carries the anchor lines
``Handtekening Verwerker`` and ``Handtekening Verwerkingsverantwoordelijke``, each directly above an empty,
bordered box of 8 cm x 3.1 cm in which the signature fields are placed.

Usage: ``.venv/bin/python scripts/make_templates.py [--seed FILE] [--out DIR]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import sys
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = REPO_ROOT / "dpa" / "templates" / "source" / "verwerkersovereenkomst.txt"
OUT_DIR = REPO_ROOT / "dpa" / "templates" / "nl"
BODY_FILE = "verwerkersovereenkomst.docx"
ANNEX_FILE = "bijlage-1.docx"

FONT = "Liberation Sans"
FONT_SIZE = Pt(10)
# A4, margins wide enough for two 8 cm signature columns with a gap between them.
PAGE_WIDTH, PAGE_HEIGHT = Cm(21.0), Cm(29.7)
MARGIN_LEFT = MARGIN_RIGHT = Cm(2.2)
MARGIN_TOP, MARGIN_BOTTOM = Cm(2.5), Cm(2.3)
TEXT_WIDTH = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT  # 16.6 cm

# Signature page: two 8 cm columns with a 0.6 cm gap; the box under each anchor.
SIG_COL, SIG_GAP = Cm(8.0), Cm(0.6)
SIG_BOX_HEIGHT = Cm(3.1)  # about 88 pt; the signature field is 210 x 64 pt
ANCHOR_PROCESSOR = "Handtekening Verwerker"
ANCHOR_CONTROLLER = "Handtekening Verwerkingsverantwoordelijke"
ANCHOR_SIZE = Pt(9)
DATE_LINE = "Datum: de datum van ondertekening is de datum van het tijdstempel van de digitale handtekening."

ANNEX_TITLE = "Bijlage 1: Omschrijving verwerkingen"
ANNEX_HEADER = ("Categorie betrokkenen", "Categorie persoonsgegevens", "Doeleinden verwerking")
ANNEX_WIDTHS = (Cm(4.6), Cm(5.6), Cm(6.4))

# Fixed dates keep regenerated files byte-identical when nothing changed.
FIXED_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
ZIP_TIME = (2025, 1, 1, 0, 0, 0)


# ----------------------------------------------------------------------------------------------------------
# Seed parsing
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Block:
    """One paragraph of the seed body.

    kind: title | intro | caps | recital | article | clause | item | annex_heading | annex_ref
    """

    kind: str
    text: str


PAGE_MARKER = re.compile(r"^\d+ / \d+$")
CLAUSE = re.compile(r"^- (\d+)\.\d+\. \S")
ITEM = re.compile(r"^ - [a-z]\. \S")
ARTICLE = re.compile(r"^(\d+)\. \S")


class SeedError(Exception):
    pass


def read_seed(path: Path) -> str:
    if not path.is_file():
        raise SeedError(
            f"seed text not found: {path}\n"
            "The templates are built from dpa/templates/source/verwerkersovereenkomst.txt; pass another "
            "location with --seed."
        )
    return unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))


def split_seed(text: str) -> tuple[list[str], list[str]]:
    """Return (body lines, annex lines): the annex page starts at the second 'Bijlage 1: ...' line."""
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if line.strip() == ANNEX_TITLE]
    if len(hits) != 2:
        raise SeedError(f"expected the line {ANNEX_TITLE!r} twice in the seed, found it {len(hits)} times")
    return lines[: hits[1]], lines[hits[1] :]


def parse_body(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    in_recitals = False
    for raw in lines:
        line = raw.rstrip()
        if not line.strip() or PAGE_MARKER.match(line.strip()):
            continue
        if line[0].islower():
            # The original broke this sentence across a page: continue the previous paragraph.
            if not blocks or blocks[-1].kind not in {"clause", "intro", "item"}:
                raise SeedError(f"continuation line without a paragraph to continue: {line[:40]!r}")
            blocks[-1].text += " " + line
            continue
        if not blocks:
            if line != "VERWERKERSOVEREENKOMST":
                raise SeedError(f"the seed should start with the title, found {line[:40]!r}")
            blocks.append(Block("title", line))
        elif line == "IN AANMERKING NEMEND DAT:":
            blocks.append(Block("caps", line))
            in_recitals = True
        elif line == "KOMEN HET VOLGENDE OVEREEN:":
            blocks.append(Block("caps", line))
            in_recitals = False
        elif ITEM.match(line):
            blocks.append(Block("item", line[3:]))
        elif CLAUSE.match(line):
            blocks.append(Block("clause", line[2:]))
        elif line.startswith("- ") and in_recitals:
            blocks.append(Block("recital", line[2:]))
        elif ARTICLE.match(line):
            blocks.append(Block("article", line))
        elif line == "Bijlage":
            blocks.append(Block("annex_heading", line))
        elif line == ANNEX_TITLE:
            blocks.append(Block("annex_ref", line))
        elif line.startswith(("-", " ")):
            raise SeedError(f"unexpected list line in the seed: {line[:40]!r}")
        else:
            blocks.append(Block("intro", line))
    check_structure(blocks)
    return blocks


def check_structure(blocks: list[Block]) -> None:
    articles = [int(b.text.split(".", 1)[0]) for b in blocks if b.kind == "article"]
    if articles != list(range(1, 16)):
        raise SeedError(f"expected articles 1-15 in order, found {articles}")
    recitals = [b for b in blocks if b.kind == "recital"]
    if len(recitals) != 4:
        raise SeedError(f"expected 4 recitals, found {len(recitals)}")
    current = 0
    for b in blocks:
        if b.kind == "article":
            current = int(b.text.split(".", 1)[0])
        elif b.kind == "clause" and int(b.text.split(".", 1)[0]) != current:
            raise SeedError(f"clause {b.text[:6]!r} is not under article {current}")
    for b in blocks:
        if b.text.count("**") % 2:
            raise SeedError(f"unbalanced ** in {b.text[:40]!r}")
        if "<" in b.text or "{" in b.text or "}" in b.text or "%" in b.text:
            raise SeedError(f"markup or template characters in the body text: {b.text[:40]!r}")
    kinds = [b.kind for b in blocks[-2:]]
    if kinds != ["annex_heading", "annex_ref"]:
        raise SeedError("the body should end with 'Bijlage' and the annex reference")


def check_annex(lines: list[str]) -> None:
    content = [line for line in lines if line.strip()]
    if content[0].strip() != ANNEX_TITLE:
        raise SeedError("the annex page should start with its title")
    header = tuple(cell.strip() for cell in content[1].split("\t"))
    if header != ANNEX_HEADER:
        raise SeedError(f"unexpected annex table header {header}")
    if not content[2].startswith("Gebruikers en subgebruikers\t"):
        raise SeedError("unexpected annex row")


def bold_parts(text: str) -> list[tuple[str, bool]]:
    """'a **b** c' -> [('a ', False), ('b', True), (' c', False)]"""
    return [(part, i % 2 == 1) for i, part in enumerate(text.split("**")) if part]


def normalise(text: str) -> str:
    return " ".join(text.split())


def seed_reference_text(body_lines: list[str]) -> str:
    """The seed body as plain text, independently of parse_body: markup dropped, whitespace collapsed."""
    kept = []
    for line in body_lines:
        stripped = line.strip()
        if PAGE_MARKER.match(stripped):
            continue
        if stripped.startswith("- "):
            stripped = stripped[2:]
        kept.append(stripped.replace("**", ""))
    return normalise(" ".join(kept))


# ----------------------------------------------------------------------------------------------------------
# DOCX helpers
# ----------------------------------------------------------------------------------------------------------


def set_run_fonts(rpr: object, size: Pt | None = None) -> None:
    """Explicit fonts (no theme fonts) and size on a w:rPr element."""
    el = rpr  # lxml element
    for old in el.findall(qn("w:rFonts")):  # type: ignore[attr-defined]
        el.remove(old)  # type: ignore[attr-defined]
    fonts = OxmlElement("w:rFonts")
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    el.insert(0, fonts)  # type: ignore[attr-defined]
    if size is not None:
        for tag in ("w:sz", "w:szCs"):
            for old in el.findall(qn(tag)):  # type: ignore[attr-defined]
                el.remove(old)  # type: ignore[attr-defined]
            node = OxmlElement(tag)
            node.set(qn("w:val"), str(int(size.pt * 2)))
            el.append(node)  # type: ignore[attr-defined]


def setup_document(title: str, footer_prefix: str) -> DocumentObject:
    doc = Document()

    # Document defaults: Liberation Sans 10 pt, Dutch, single spacing with 6 pt after.
    styles_el = doc.styles.element
    rpr_default = styles_el.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    for child in list(rpr_default):
        rpr_default.remove(child)
    set_run_fonts(rpr_default, FONT_SIZE)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "nl-NL")
    lang.set(qn("w:eastAsia"), "nl-NL")
    lang.set(qn("w:bidi"), "ar-SA")
    rpr_default.append(lang)
    ppr_default = styles_el.find(qn("w:docDefaults")).find(qn("w:pPrDefault")).find(qn("w:pPr"))
    for child in list(ppr_default):
        ppr_default.remove(child)
    ppr_default.append(parse_xml(f'<w:spacing {nsdecls("w")} w:after="120" w:line="240" w:lineRule="auto"/>'))

    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = FONT_SIZE

    for name, size, before, after in (("Heading 1", 14, 0, 12), ("Heading 2", 10.5, 10, 4)):
        style = doc.styles[name]
        assert isinstance(style, ParagraphStyle)
        rpr = style.element.get_or_add_rPr()
        for child in list(rpr):
            rpr.remove(child)
        set_run_fonts(rpr, Pt(size))
        style.font.bold = True
        style.font.color.rgb = RGBColor(0, 0, 0)
        fmt = style.paragraph_format
        fmt.space_before = Pt(before)
        fmt.space_after = Pt(after)
        fmt.keep_with_next = True

    for name in ("Footer", "Header"):
        style = doc.styles[name]
        style.font.name = FONT
        style.font.size = Pt(9)

    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin, section.right_margin = MARGIN_LEFT, MARGIN_RIGHT
    section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
    section.header_distance, section.footer_distance = Cm(1.25), Cm(1.0)

    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.paragraph_format.space_after = Pt(0)
    if footer_prefix:
        footer.add_run(footer_prefix)
    append_field(footer, "PAGE", "1")
    footer.add_run(" / ")
    append_field(footer, "NUMPAGES", "1")

    # python-docx's default package carries a thumbnail of an unrelated document: drop it.
    rels = doc.part.package.rels
    for r_id in [r_id for r_id, rel in rels.items() if rel.reltype.endswith("/metadata/thumbnail")]:
        rels.pop(r_id)

    props = doc.core_properties
    props.title = title
    props.author = "ipcall.me"
    props.last_modified_by = "ipcall.me"
    props.subject = ""
    props.comments = ""
    props.keywords = ""
    props.category = ""
    props.language = "nl-NL"
    props.revision = 1
    props.created = FIXED_TIME.replace(tzinfo=None)
    props.modified = FIXED_TIME.replace(tzinfo=None)
    props.last_printed = FIXED_TIME.replace(tzinfo=None)
    return doc


def append_field(paragraph: Paragraph, instr: str, placeholder: str) -> None:
    field = parse_xml(f'<w:fldSimple {nsdecls("w")} w:instr=" {instr} "><w:r><w:t/></w:r></w:fldSimple>')
    field.find(qn("w:r")).find(qn("w:t")).text = placeholder
    paragraph._p.append(field)


def add_paragraph(
    container: DocumentObject | _Cell,
    text: str = "",
    *,
    bold: bool = False,
    size: Pt | None = None,
    style: str | None = None,
    after: float | None = None,
    before: float | None = None,
    justify: bool = False,
    keep_next: bool = False,
) -> Paragraph:
    """A paragraph; '**' in text marks bold parts. Each part is one run, so a Jinja tag is never split."""
    para = container.add_paragraph(style=style)
    for part, is_bold in bold_parts(text):
        run = para.add_run(part)
        if bold or is_bold:
            run.bold = True
        if size is not None:
            run.font.size = size
    fmt = para.paragraph_format
    if after is not None:
        fmt.space_after = Pt(after)
    if before is not None:
        fmt.space_before = Pt(before)
    if justify:
        para.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    if keep_next:
        fmt.keep_with_next = True
    return para


def first_cell_paragraph(cell: _Cell, text: str = "", **kwargs: object) -> Paragraph:
    """Use the cell's initial empty paragraph for the first line."""
    para = cell.paragraphs[0]
    para._p.getparent().remove(para._p)
    return add_paragraph(cell, text, **kwargs)  # type: ignore[arg-type]


TBL_PR_ORDER = (
    *("tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize", "tblStyleColBandSize"),
    *("tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd", "tblLayout", "tblCellMar", "tblLook"),
    *("tblCaption", "tblDescription", "tblPrChange"),
)


def twips(length: int) -> str:
    """EMU -> twentieths of a point, as the string OOXML wants."""
    return str(round(length / 635))


def layout_table(table: Table, widths: Iterable[int], cell_margins: dict[str, int] | None = None) -> None:
    """Fixed column widths (grid, table and every cell), optional cell margins, tblPr in schema order."""
    widths = list(widths)
    tbl = table._tbl
    tbl_pr = tbl.tblPr
    table.autofit = False  # w:tblLayout w:type="fixed"
    for old in tbl_pr.findall(qn("w:tblW")) + tbl_pr.findall(qn("w:tblCellMar")):
        tbl_pr.remove(old)
    tbl_w = OxmlElement("w:tblW")
    tbl_w.set(qn("w:w"), str(sum(int(twips(w)) for w in widths)))
    tbl_w.set(qn("w:type"), "dxa")
    tbl_pr.append(tbl_w)
    if cell_margins:
        mar = OxmlElement("w:tblCellMar")
        for edge in ("top", "left", "bottom", "right"):
            if edge in cell_margins:
                node = OxmlElement(f"w:{edge}")
                node.set(qn("w:w"), twips(cell_margins[edge]))
                node.set(qn("w:type"), "dxa")
                mar.append(node)
        tbl_pr.append(mar)
    children = sorted(tbl_pr, key=lambda el: TBL_PR_ORDER.index(el.tag.split("}")[1]))
    for child in children:
        tbl_pr.append(child)  # re-appending moves it: children end up in schema order
    grid = tbl.tblGrid
    for col, width in zip(grid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), twips(width))
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def row_props(row: object, *, cant_split: bool = True, header: bool = False) -> None:
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    if cant_split:
        tr_pr.append(OxmlElement("w:cantSplit"))
    if header:
        tr_pr.append(OxmlElement("w:tblHeader"))


def cell_borders(cell: _Cell, size_eighths: int = 6) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    borders = OxmlElement("w:tcBorders")
    for edge in ("top", "left", "bottom", "right"):
        node = OxmlElement(f"w:{edge}")
        node.set(qn("w:val"), "single")
        node.set(qn("w:sz"), str(size_eighths))
        node.set(qn("w:space"), "0")
        node.set(qn("w:color"), "808080")
        borders.append(node)
    tc_w = tc_pr.find(qn("w:tcW"))
    if tc_w is not None:
        tc_w.addnext(borders)
    else:
        tc_pr.insert(0, borders)


def cell_shading(cell: _Cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    anchor = tc_pr.find(qn("w:tcBorders"))
    if anchor is None:
        anchor = tc_pr.find(qn("w:tcW"))
    if anchor is not None:
        anchor.addnext(shd)
    else:
        tc_pr.insert(0, shd)


def save_reproducibly(doc: DocumentObject, path: Path) -> None:
    """Save with fixed zip timestamps, so that an unchanged template keeps its SHA-256; write atomically."""
    buffer = io.BytesIO()
    doc.save(buffer)
    buffer.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(out.getvalue())
    tmp.replace(path)


# ----------------------------------------------------------------------------------------------------------
# The agreement body
# ----------------------------------------------------------------------------------------------------------


def add_recital_numbering(doc: DocumentObject) -> int:
    """A bullet list definition ('•' in the body font) for the recitals; returns its numId."""
    numbering = doc.part.numbering_part.element
    abstract_ids = [int(a.get(qn("w:abstractNumId"))) for a in numbering.findall(qn("w:abstractNum"))]
    num_ids = [int(n.get(qn("w:numId"))) for n in numbering.findall(qn("w:num"))]
    abstract_id = max(abstract_ids, default=0) + 1
    num_id = max(num_ids, default=0) + 1
    abstract = parse_xml(
        f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{abstract_id}">'
        '<w:multiLevelType w:val="singleLevel"/>'
        '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="bullet"/><w:lvlText w:val="•"/>'
        '<w:lvlJc w:val="left"/><w:pPr><w:ind w:left="425" w:hanging="425"/></w:pPr>'
        f'<w:rPr><w:rFonts w:ascii="{FONT}" w:hAnsi="{FONT}" w:cs="{FONT}"/></w:rPr></w:lvl>'
        "</w:abstractNum>"
    )
    # abstractNum elements precede all num elements
    first_num = numbering.find(qn("w:num"))
    if first_num is not None:
        first_num.addprevious(abstract)
    else:
        numbering.append(abstract)
    numbering.append(
        parse_xml(f'<w:num {nsdecls("w")} w:numId="{num_id}"><w:abstractNumId w:val="{abstract_id}"/></w:num>')
    )
    return num_id


def set_numbering(paragraph: Paragraph, num_id: int) -> None:
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = 0
    num_pr.get_or_add_numId().val = num_id


def conditional(doc: DocumentObject | _Cell, condition: str, *lines: tuple[str, dict[str, object]]) -> None:
    """Paragraphs kept only when condition holds (docxtpl {%p if %} ... {%p endif %})."""
    add_paragraph(doc, "{%p if " + condition + " %}")
    for text, kwargs in lines:
        add_paragraph(doc, text, **kwargs)  # type: ignore[arg-type]
    add_paragraph(doc, "{%p endif %}")


def party_block(doc: DocumentObject, var: str, role: str, *, with_email: bool) -> None:
    tight: dict[str, object] = {"after": 0}
    add_paragraph(doc, "{{ " + var + ".name }}", bold=True, after=0, keep_next=True)
    conditional(doc, f"{var}.street", ("{{ " + var + ".street }}", tight))
    conditional(
        doc,
        f"{var}.postcode or {var}.city",
        (
            "{{ " + var + ".postcode }}{% if " + var + ".postcode and " + var + ".city %} {% endif %}"
            "{{ " + var + ".city }}",
            tight,
        ),
    )
    conditional(doc, f"{var}.country_name", ("{{ " + var + ".country_name }}", tight))
    conditional(doc, f"{var}.kvk", ("KvK-nummer: {{ " + var + ".kvk }}", tight))
    if with_email:
        conditional(doc, f"{var}.email", ("E-mail: {{ " + var + ".email }}", tight))
        add_paragraph(doc, "Klantnummer: {{ " + var + ".id }}", after=0)
    conditional(
        doc,
        f"{var}.signatory_name",
        (
            "vertegenwoordigd door {{ " + var + ".signatory_name }}"
            "{% if " + var + ".signatory_title %}, {{ " + var + ".signatory_title }}{% endif %}",
            tight,
        ),
    )
    add_paragraph(doc, f"als {role},", before=3, after=10)


def signature_table(doc: DocumentObject) -> None:
    heading = add_paragraph(doc, "Aldus overeengekomen en ondertekend", style="Heading 2", keep_next=True)
    heading.paragraph_format.page_break_before = True
    heading.paragraph_format.space_after = Pt(18)

    table = doc.add_table(rows=7, cols=3)
    layout_table(table, (SIG_COL, SIG_GAP, SIG_COL))
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    sides = (
        (0, "Verwerker", "processor", ANCHOR_PROCESSOR),
        (2, "Verwerkingsverantwoordelijke", "customer", ANCHOR_CONTROLLER),
    )
    for col, role, var, anchor in sides:
        cells = [table.rows[r].cells[col] for r in range(7)]
        first_cell_paragraph(cells[0], role, bold=True, after=2, keep_next=True)
        first_cell_paragraph(cells[1], "{{ " + var + ".name }}", after=14, keep_next=True)
        first_cell_paragraph(cells[2], anchor, size=ANCHOR_SIZE, after=0, keep_next=True)
        first_cell_paragraph(cells[3], "", size=Pt(6), after=0, keep_next=True)
        cell_borders(cells[3])
        first_cell_paragraph(cells[4], "Naam: {{ " + var + ".signatory_name }}", before=8, after=2, keep_next=True)
        first_cell_paragraph(cells[5], "Functie: {{ " + var + ".signatory_title }}", after=2, keep_next=True)
        first_cell_paragraph(cells[6], DATE_LINE, size=Pt(8.5), after=0)
    for r, row in enumerate(table.rows):
        row_props(row)
        if r == 3:
            row.height = SIG_BOX_HEIGHT
            row.height_rule = WD_ROW_HEIGHT_RULE.EXACTLY
        for para in row.cells[1].paragraphs:
            para.paragraph_format.space_after = Pt(0)
            if r < 6:
                para.paragraph_format.keep_with_next = True


def build_body(blocks: list[Block]) -> DocumentObject:
    doc = setup_document("Verwerkersovereenkomst", "")
    num_id = add_recital_numbering(doc)

    title = blocks[0]
    para = add_paragraph(doc, title.text, style="Heading 1")
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER

    # The parties (not in the seed).
    add_paragraph(doc, "DE ONDERGETEKENDEN:", bold=True, before=6, after=8, keep_next=True)
    party_block(doc, "processor", "Verwerker", with_email=False)
    add_paragraph(doc, "en", after=10, keep_next=True)
    party_block(doc, "customer", "Verwerkingsverantwoordelijke", with_email=True)
    conditional(
        doc,
        "customer.contract_ref",
        (
            "Deze Overeenkomst vult de overeenkomst inzake de diensten met kenmerk {{ customer.contract_ref }} aan.",
            {"after": 10},
        ),
    )

    # The seed text, verbatim.
    for block in blocks[1:]:
        if block.kind == "intro":
            add_paragraph(doc, block.text, justify=True)
        elif block.kind == "caps":
            add_paragraph(doc, block.text, bold=True, before=6, keep_next=True)
        elif block.kind == "recital":
            para = add_paragraph(doc, block.text, justify=True, after=3)
            set_numbering(para, num_id)
        elif block.kind == "article":
            add_paragraph(doc, block.text, style="Heading 2")
        elif block.kind == "clause":
            add_paragraph(doc, block.text, justify=True)
        elif block.kind == "item":
            para = add_paragraph(doc, block.text, justify=True, after=3)
            para.paragraph_format.left_indent = Cm(0.75)
        elif block.kind == "annex_heading":
            add_paragraph(doc, block.text, style="Heading 2")
        elif block.kind == "annex_ref":
            add_paragraph(doc, block.text)
        else:  # pragma: no cover - parse_body only makes the kinds above
            raise SeedError(f"unknown block kind {block.kind}")

    signature_table(doc)
    return doc


# ----------------------------------------------------------------------------------------------------------
# Annex 1
# ----------------------------------------------------------------------------------------------------------


def build_annex() -> DocumentObject:
    doc = setup_document("Verwerkersovereenkomst – Bijlage 1", "Bijlage 1 – ")
    add_paragraph(doc, ANNEX_TITLE, style="Heading 1")
    add_paragraph(
        doc,
        "behorende bij de verwerkersovereenkomst tussen {{ processor.name }} en {{ customer.name }}",
        after=12,
    )
    table = doc.add_table(rows=4, cols=3)
    table.style = doc.styles["Table Grid"]
    layout_table(table, ANNEX_WIDTHS, {"top": Pt(3), "left": Cm(0.19), "bottom": Pt(3), "right": Cm(0.19)})
    header, loop_start, data, loop_end = table.rows
    row_props(header, header=True)
    for cell, text in zip(header.cells, ANNEX_HEADER, strict=True):
        first_cell_paragraph(cell, text, bold=True, after=0)
        cell_shading(cell, "E7E6E6")

    first_cell_paragraph(loop_start.cells[0], "{%tr for row in annex_rows %}")
    first_cell_paragraph(loop_end.cells[0], "{%tr endfor %}")

    row_props(data)
    subjects, categories, purposes = data.cells
    first_cell_paragraph(subjects, "{{ row.data_subjects }}", after=0)
    first_cell_paragraph(categories, "{%p for line in row.data_categories %}")
    add_paragraph(categories, "{{ line }}", after=0)
    add_paragraph(categories, "{%p endfor %}")
    # A table cell needs at least one paragraph: an empty one when the list is empty.
    add_paragraph(categories, "{%p if not row.data_categories %}")
    add_paragraph(categories, "", after=0)
    add_paragraph(categories, "{%p endif %}")
    first_cell_paragraph(purposes, "{{ row.purposes }}", after=0)
    return doc


# ----------------------------------------------------------------------------------------------------------
# Self-check and main
# ----------------------------------------------------------------------------------------------------------


def document_text(doc: DocumentObject) -> str:
    return normalise(" ".join(p.text for p in doc.paragraphs))


def self_check(body: DocumentObject, annex: DocumentObject, reference: str) -> None:
    text = document_text(body)
    if reference not in text:
        raise SeedError("the body template does not carry the seed text verbatim")
    xml = body.element.xml
    for anchor in (ANCHOR_PROCESSOR, ANCHOR_CONTROLLER):
        if xml.count(anchor) != 1:
            raise SeedError(f"anchor {anchor!r} must occur exactly once")
    for doc in (body, annex):
        props = doc.core_properties
        for value in (props.title, props.author, props.subject, props.comments, props.keywords):
            if "{" in value or "}" in value:
                raise SeedError("template tags in the core properties")
        section = doc.sections[0]
        size = (section.page_width or 0, section.page_height or 0)
        if abs(size[0] - PAGE_WIDTH) > Cm(0.01) or abs(size[1] - PAGE_HEIGHT) > Cm(0.01):
            raise SeedError("page size is not A4")
    if "’" in text or "‘" in text:
        raise SeedError("typographic quotes crept into the text")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=Path, default=SEED, help="the seed text (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        seed = read_seed(args.seed)
        body_lines, annex_lines = split_seed(seed)
        blocks = parse_body(body_lines)
        check_annex(annex_lines)
        body = build_body(blocks)
        annex = build_annex()
        start = seed_reference_text(body_lines)
        start = start[start.index("Deze verwerkersovereenkomst") :]
        self_check(body, annex, start)
    except SeedError as exc:
        print(f"make_templates: {exc}", file=sys.stderr)
        return 1
    save_reproducibly(body, args.out / BODY_FILE)
    save_reproducibly(annex, args.out / ANNEX_FILE)
    print(f"wrote {args.out / BODY_FILE} and {args.out / ANNEX_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

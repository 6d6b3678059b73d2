"""The two DOCX templates composed into one: the agreement, a section break, then Annex 1 with its own footer.

Legal edits two Word files (``verwerkersovereenkomst.docx`` and ``bijlage-1.docx``); dpa renders and converts
them as one document, because every LibreOffice conversion costs a fixed ~0.1 s to load a document, whatever its
size: one conversion per agreement instead of two is a third less LibreOffice time. The composition is done once
per template version and run (:attr:`dpa.assembly.templates.TemplateSet.agreement_bytes`).

docxcompose merges the annex's styles, numbering and referenced parts into the agreement; what it leaves out is
the annex's section (it keeps the master's page set-up for everything), so the section break and the annex's
footer are added here: the agreement's last paragraph ends its section, and the annex's section carries its own
footer, copied from the annex template. Page numbers run on through the annex ("8 / 8"), since LibreOffice does
not implement Word's per-section page count.
"""

from __future__ import annotations

import copy
import io

from docx import Document
from docx.document import Document as DocxDocument
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docxcompose.composer import Composer

from dpa.errors import TemplateError

ANNEX_HEADING_PREFIX = "Bijlage 1"
"""The annex starts with a heading beginning with these words; the PDF's outline entry for it tells where the
annex begins (and so which page is the signature page)."""


def compose_agreement(body: bytes, annex: bytes) -> bytes:
    """One DOCX template: ``body``, a new-page section break, ``annex`` with its own footer."""
    try:
        master = Document(io.BytesIO(body))
        appendix = Document(io.BytesIO(annex))
    except Exception as exc:  # python-docx raises zipfile, KeyError and lxml errors on a broken file
        raise TemplateError(f"a template is not a readable DOCX ({type(exc).__name__}: {exc})") from None
    if len(master.sections) != 1 or len(appendix.sections) != 1:
        raise TemplateError("the agreement and Annex 1 templates must each have exactly one section")
    _end_section_on_last_paragraph(master)
    composer = Composer(master)
    composer.append(appendix)
    _give_annex_its_footer(master, appendix)
    out = io.BytesIO()
    composer.save(out)
    return out.getvalue()


def _end_section_on_last_paragraph(document: DocxDocument) -> None:
    """End section one after the agreement's last block: its section properties move into a paragraph there (a
    page break with the same page set-up), and what is appended after it forms section two.

    When the agreement ends with a table (the signature boxes), a hairline empty paragraph after it carries the
    section end, as Word itself does: a section cannot end inside a table, and a normal paragraph could push the
    signature page over.
    """
    body = document.element.body
    final = body.find(qn("w:sectPr"))
    if final is None or final.getprevious() is None:
        raise TemplateError("the agreement template has no content or no page set-up")
    last = final.getprevious()
    if last.tag != qn("w:p"):
        last = parse_xml(
            f'<w:p {nsdecls("w")}><w:pPr><w:spacing w:before="0" w:after="0" w:line="20" w:lineRule="exact"/>'
            '<w:rPr><w:sz w:val="2"/><w:szCs w:val="2"/></w:rPr></w:pPr></w:p>'
        )
        final.addprevious(last)
    section_end = copy.deepcopy(final)
    for start in section_end.findall(qn("w:type")):
        section_end.remove(start)  # a section break that starts a new page (the default)
    properties = last.get_or_add_pPr()
    properties.append(section_end)  # sectPr comes last in pPr but for w:pPrChange, which templates do not have


def _give_annex_its_footer(document: DocxDocument, appendix: DocxDocument) -> None:
    """The last section (the annex) gets a footer of its own with the annex template's footer paragraphs."""
    annex_section = document.sections[-1]
    for reference in annex_section._sectPr.findall(qn("w:footerReference")):
        annex_section._sectPr.remove(reference)  # it still shares the agreement's footer part
    footer = annex_section.footer
    footer.is_linked_to_previous = False  # a new footer part of its own
    target = footer._element
    for child in list(target):
        target.remove(child)
    for child in appendix.sections[0].footer._element:
        target.append(copy.deepcopy(child))

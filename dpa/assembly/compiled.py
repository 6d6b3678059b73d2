"""A DOCX template parsed and compiled once, rendered many times: per customer only Jinja and a zip.

docxtpl's ``DocxTemplate.render`` opens the package, cleans the XML, compiles a Jinja template per part, renders,
parses the result back and saves the package again — for every document. For a batch that is most of the
Python time of a row (measured: compiling alone was 40 % of a render). :class:`CompiledDocx` does the per-template
work once (open, clean with docxtpl's own ``patch_xml``, compile in dpa's sandboxed environment, fixed core
properties) and per customer only renders the compiled parts, applies docxtpl's own post-processing
(``resolve_listing``, ``fix_tables``, ``fix_docpr_ids``) and writes the zip with the unchanged parts copied.

A test keeps its output equal to docxtpl's own render of the same template (``tests/test_generate.py``).
"""

from __future__ import annotations

import io
import re
import zipfile
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import jinja2
from docx.oxml.ns import qn
from docxtpl import DocxTemplate
from lxml import etree

from dpa.errors import TemplateError

BODY_PART = "word/document.xml"
_BODY_MARKER = "DPA-BODY"
_PARAGRAPH = re.compile(r"<w:p([ >])")
_PARAGRAPH_AFTER_RENDER = re.compile(r"\n<w:p([ >])")


@dataclass(frozen=True)
class _CompiledPart:
    """One XML part of the package with its compiled Jinja template."""

    name: str
    template: jinja2.Template
    encoding: str


class CompiledDocx:
    """A DOCX template ready to render; thread-safe (rendering shares nothing mutable between calls)."""

    def __init__(self, template: bytes, env: jinja2.Environment, core_properties: dict[str, str], name: str) -> None:
        self.name = name
        source = DocxTemplate(io.BytesIO(template))
        try:
            source.init_docx()
            document = source.docx
            for key, value in core_properties.items():
                setattr(document.core_properties, key, value)
            self._body = _CompiledPart(BODY_PART, self._compile(env, source, source.get_xml()), "utf-8")
            self._prefix, self._suffix = _around_body(document.element)
            self._hdrftr = tuple(self._header_footer_parts(env, source))
            package = io.BytesIO()
            document.save(package)  # the unchanged parts, with dpa's fixed core properties
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{name}: Jinja syntax error on line {exc.lineno}: {exc.message}") from None
        except TemplateError:
            raise
        except Exception as exc:  # zipfile, lxml and python-docx errors on a broken template
            raise TemplateError(f"{name}: not a readable DOCX template ({type(exc).__name__}: {exc})") from None
        with zipfile.ZipFile(package) as archive:
            self._entries = [(info, archive.read(info)) for info in archive.infolist()]
        rendered = {BODY_PART, *(part.name for part in self._hdrftr)}
        for info, data in self._entries:
            if info.filename.endswith(".xml") and info.filename not in rendered and re.search(rb"\{[{%]", data):
                raise TemplateError(f"{name}: template tags in {info.filename} would not be filled; remove them")
        self._helper = source  # docxtpl's post-processing methods; they keep no state across calls but a counter

    def _compile(self, env: jinja2.Environment, source: DocxTemplate, xml: str) -> jinja2.Template:
        patched = _PARAGRAPH.sub(r"\n<w:p\1", source.patch_xml(xml))
        return env.from_string(patched)

    def _header_footer_parts(self, env: jinja2.Environment, source: DocxTemplate) -> list[_CompiledPart]:
        parts = []
        for uri in (source.HEADER_URI, source.FOOTER_URI):
            for _key, part in source.get_headers_footers(uri):
                xml = source.get_part_xml(part)
                name = str(part.partname).lstrip("/")
                parts.append(
                    _CompiledPart(name, self._compile(env, source, xml), source.get_headers_footers_encoding(xml))
                )
        return parts

    def render(self, context: dict[str, Any]) -> bytes:
        """The filled DOCX for ``context``."""
        try:
            body = self._render_xml(self._body, context)
            tree = self._helper.fix_tables(body)
            for index, element in enumerate(tree.xpath("//wp:docPr", namespaces=_NS), start=1001):
                element.attrib["id"] = str(index)  # as docxtpl's fix_docpr_ids, without its shared counter
            replaced = {
                BODY_PART: (self._prefix + etree.tostring(tree, encoding="unicode") + self._suffix).encode("utf-8")
            }
            for part in self._hdrftr:
                replaced[part.name] = self._render_xml(part, context).encode(part.encoding)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{self.name}: the template uses an unknown name: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{self.name}: the template does not render: {exc}") from None
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for info, data in self._entries:  # a fresh ZipInfo each time: writestr fills in sizes and offsets
                entry = zipfile.ZipInfo(info.filename, info.date_time)
                entry.external_attr = info.external_attr
                archive.writestr(entry, replaced.get(info.filename, data), zipfile.ZIP_DEFLATED, 1)
        return out.getvalue()

    def _render_xml(self, part: _CompiledPart, context: dict[str, Any]) -> str:
        """docxtpl's ``render_xml_part`` on a compiled template."""
        xml = _PARAGRAPH_AFTER_RENDER.sub(r"<w:p\1", part.template.render(context))
        xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        resolved: str = self._helper.resolve_listing(xml)
        return resolved


_NS = {"wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"}


def _around_body(document_element: Any) -> tuple[str, str]:
    """document.xml as python-docx writes it, split where the rendered ``w:body`` goes."""
    copy = deepcopy(document_element)
    body = copy.find(qn("w:body"))
    placeholder = etree.Comment(_BODY_MARKER)
    body.addprevious(placeholder)
    copy.remove(body)
    text = etree.tostring(copy, encoding="unicode")
    marker = f"<!--{_BODY_MARKER}-->"
    before, found, after = text.partition(marker)
    if not found:  # pragma: no cover - lxml always writes the comment
        raise TemplateError("cannot prepare the template's document part")
    declaration = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
    return declaration + before, after

"""``dpa templates check``: the lint of a template folder against the contract of :mod:`dpa.assembly.templates`."""

from __future__ import annotations

import io
import re
from pathlib import Path

import jinja2
from docx import Document
from docxtpl import DocxTemplate
from jinja2 import meta

from dpa.assembly.compose import ANNEX_HEADING_PREFIX
from dpa.assembly.render import render_docx, sample_context
from dpa.assembly.templates import CONTEXT_VARIABLES, SIGNATURE_ANCHORS, TemplateSet, jinja_environment
from dpa.errors import TemplateError


def check_templates(root: Path, language: str = "nl") -> list[str]:
    """Lint a template folder: Jinja syntax, undeclared variables, a sample render, anchors. Returns problems."""
    problems: list[str] = []
    try:
        templates = TemplateSet.load(root, language)
    except TemplateError as exc:
        return [str(exc)]
    env = jinja_environment()
    for path, data in (
        (templates.body_path, templates.body_bytes),
        (templates.annex_path, templates.annex_bytes),
    ):
        try:
            source = DocxTemplate(io.BytesIO(data))
            source.init_docx()
            xml = "".join(source.patch_xml(source.xml_to_string(p)) for p in _template_parts(source))
            names = meta.find_undeclared_variables(env.parse(xml))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{path.name}: Jinja syntax error: {exc.message}")
            continue
        except Exception as exc:  # a corrupt DOCX raises anything from zipfile to lxml
            problems.append(f"{path.name}: not a readable DOCX template ({type(exc).__name__}: {exc})")
            continue
        for name in sorted(names - CONTEXT_VARIABLES):
            problems.append(f"{path.name}: undeclared variable '{name}'")
        if names - CONTEXT_VARIABLES:
            continue
        try:
            rendered = render_docx(data, sample_context(), path.name)
        except TemplateError as exc:
            problems.append(str(exc))
            continue
        if path == templates.body_path:
            text = docx_text(rendered)
            for field, anchor in SIGNATURE_ANCHORS.items():
                count = len(re.findall(re.escape(anchor) + r"(?![A-Za-z])", text))
                if count != 1:
                    problems.append(
                        f"{path.name}: anchor '{anchor}' for {field} must occur exactly once (found {count})"
                    )
        elif not docx_text(rendered).lstrip().startswith(ANNEX_HEADING_PREFIX):
            problems.append(f"{path.name}: Annex 1 must start with its heading '{ANNEX_HEADING_PREFIX}…'")
    if not problems:
        problems.extend(_composition_problems(templates))
    return problems


def _composition_problems(templates: TemplateSet) -> list[str]:
    """The two templates composed and compiled as the pipeline uses them (one DOCX, see compose.py)."""
    try:
        templates.compiled.render(sample_context())
    except TemplateError as exc:
        return [f"the agreement and Annex 1 together: {exc}"]
    return []


def _template_parts(source: DocxTemplate) -> list[object]:
    """The XML trees docxtpl renders: the body, then every header and footer."""
    document = source.docx
    parts: list[object] = [document._element.body]
    for uri in (source.HEADER_URI, source.FOOTER_URI):
        for _key, part in source.get_headers_footers(uri):
            parts.append(part.element)
    return parts


def docx_text(data: bytes) -> str:
    """All paragraph text of a DOCX, tables included, one paragraph per line."""
    document = Document(io.BytesIO(data))
    root = document.element.body
    lines = []
    for paragraph in root.iter("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p"):
        lines.append(
            "".join(
                t.text or "" for t in paragraph.iter("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}t")
            )
        )
    return "\n".join(lines)

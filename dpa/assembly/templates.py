"""The DOCX template set: where it lives, its version, the contract it must fulfil, and its lint.

The template contract: the documents use only the variables ``processor``, ``customer`` and ``annex_rows``
(see :func:`dpa.assembly.render.template_context`), and the body carries one anchor line per party under which
the empty signature field is placed (see :data:`SIGNATURE_ANCHORS`).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jinja2
import jinja2.sandbox
from docx import Document
from docxtpl import DocxTemplate
from jinja2 import meta

from dpa.errors import TemplateError

BODY_NAME = "verwerkersovereenkomst.docx"
ANNEX_NAME = "bijlage-1.docx"
CONTEXT_VARIABLES = frozenset({"processor", "customer", "annex_rows"})

# Field name → the anchor line printed directly above that party's empty signature box.
SIGNATURE_ANCHORS = {
    "processor_signature": "Handtekening Verwerker",
    "controller_signature": "Handtekening Verwerkingsverantwoordelijke",
}
# Size of the signature field placed under each anchor (PDF points). The template leaves at least this much
# empty space below each anchor line.
SIGNATURE_BOX_WIDTH = 210.0
SIGNATURE_BOX_HEIGHT = 64.0


def jinja_environment() -> jinja2.Environment:
    """The only environment templates are rendered in: sandboxed, autoescaping, failing on undefined names."""
    return jinja2.sandbox.SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)


@dataclass(frozen=True)
class TemplateSet:
    """The body and annex templates of one language, read once and kept in memory."""

    directory: Path

    @classmethod
    def load(cls, root: Path, language: str = "nl") -> TemplateSet:
        """The template set for ``language`` under ``root`` (e.g. ``templates/``), checked to exist."""
        directory = root / language
        templates = cls(directory)
        for path in (templates.body_path, templates.annex_path):
            if not path.is_file():
                raise TemplateError(f"template {path} does not exist")
        return templates

    @property
    def body_path(self) -> Path:
        """The agreement body and signature page."""
        return self.directory / BODY_NAME

    @property
    def annex_path(self) -> Path:
        """Bijlage 1."""
        return self.directory / ANNEX_NAME

    @cached_property
    def body_bytes(self) -> bytes:
        """The body template's bytes (read once per process)."""
        return _read(self.body_path)

    @cached_property
    def annex_bytes(self) -> bytes:
        """The annex template's bytes (read once per process)."""
        return _read(self.annex_path)

    @cached_property
    def version(self) -> str:
        """SHA-256 over both template files: what art. 12.4 needs to know which text an agreement used."""
        digest = hashlib.sha256()
        for name, data in ((BODY_NAME, self.body_bytes), (ANNEX_NAME, self.annex_bytes)):
            digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        return digest.hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None


def check_templates(root: Path, language: str = "nl") -> list[str]:
    """Lint a template folder: Jinja syntax, undeclared variables, a sample render, anchors. Returns problems."""
    from dpa.assembly.render import render_docx, sample_context  # render imports this module

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
    return problems


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

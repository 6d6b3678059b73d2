"""The DOCX template set: where it lives, its version, and the contract it must fulfil.

The template contract: the documents use only the variables ``processor``, ``customer`` and ``annex_rows``
(see :func:`dpa.assembly.render.template_context`), and the body carries one anchor line per party under which
the empty signature field is placed (see :data:`SIGNATURE_ANCHORS`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jinja2
import jinja2.sandbox

from dpa.assembly.compiled import CompiledDocx
from dpa.assembly.compose import compose_agreement
from dpa.errors import TemplateError
from dpa.roles import PARTIES

BODY_NAME = "verwerkersovereenkomst.docx"
ANNEX_NAME = "bijlage-1.docx"
CONTEXT_VARIABLES = frozenset({"processor", "customer", "annex_rows"})

# Field name → the anchor line printed directly above that party's empty signature box.
SIGNATURE_ANCHORS = {party.field: party.anchor for party in PARTIES}
# Size of the signature field placed under each anchor (PDF points). The template leaves at least this much
# empty space below each anchor line.
SIGNATURE_BOX_WIDTH = 210.0
SIGNATURE_BOX_HEIGHT = 64.0


DOCUMENT_TITLE = "Verwerkersovereenkomst"
DOCUMENT_AUTHOR = "ipcall.me"
CORE_PROPERTIES = {
    "title": DOCUMENT_TITLE,
    "author": DOCUMENT_AUTHOR,
    "last_modified_by": DOCUMENT_AUTHOR,
    **{name: "" for name in ("subject", "comments", "keywords", "category", "identifier", "content_status")},
}
"""The DOCX core properties of every rendered document: fixed, so that no customer data ever goes there."""


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
    def agreement_bytes(self) -> bytes:
        """Both templates composed into one DOCX (agreement, section break, Annex 1): rendered and converted as
        one document (see :mod:`dpa.assembly.compose`)."""
        return compose_agreement(self.body_bytes, self.annex_bytes)

    @cached_property
    def compiled(self) -> CompiledDocx:
        """:attr:`agreement_bytes` parsed and compiled once per process (see :mod:`dpa.assembly.compiled`)."""
        return CompiledDocx(self.agreement_bytes, jinja_environment(), CORE_PROPERTIES, self.directory.name)

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

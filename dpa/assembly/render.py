"""Customer record → filled DOCX (body and Annex 1), with docxtpl in a sandboxed, autoescaping environment.

Customer data only ever enters as context values, never as template source, and never goes into the DOCX core
properties (they are reset to fixed values after rendering).
"""

from __future__ import annotations

import io
from typing import Any

import jinja2
from docxtpl import DocxTemplate

from dpa.assembly.templates import CORE_PROPERTIES, TemplateSet, jinja_environment
from dpa.config import EXAMPLE_PROCESSOR, ProcessorConfig
from dpa.errors import TemplateError
from dpa.records import CustomerRecord, country_name, record_from_mapping


def template_context(record: CustomerRecord, processor: ProcessorConfig) -> dict[str, Any]:
    """The context the templates are rendered with: ``processor``, ``customer`` and ``annex_rows``."""
    return {
        "processor": {
            "name": processor.name,
            "street": processor.street,
            "postcode": processor.postcode,
            "city": processor.city,
            "country_name": country_name(processor.country),
            "kvk": processor.kvk,
            "signatory_name": processor.signatory_name,
            "signatory_title": processor.signatory_title,
        },
        "customer": {
            "id": record.id,
            "name": record.name,
            "street": record.street,
            "postcode": record.postcode,
            "city": record.city,
            "country_name": record.country_name,
            "kvk": record.kvk,
            "email": record.email,
            "signatory_name": record.signatory_name,
            "signatory_title": record.signatory_title,
            "contract_ref": record.contract_ref,
        },
        "annex_rows": [
            {
                "data_subjects": r.data_subjects,
                "data_categories": list(r.data_categories),
                "purposes": r.purposes,
            }
            for r in record.annex_rows
        ],
    }


def sample_context() -> dict[str, Any]:
    """A context with every field filled, used by the template lint."""
    record = record_from_mapping(
        {
            "id": "SAMPLE-1",
            "name": "Voorbeeld B.V.",
            "kvk": "12345678",
            "street": "Voorbeeldstraat 1",
            "postcode": "1234 AB",
            "city": "Utrecht",
            "email": "info@voorbeeld.example",
            "signatory_name": "J. de Vries",
            "signatory_title": "Directeur",
            "contract_ref": "OVK-0001",
        }
    )
    return template_context(record, EXAMPLE_PROCESSOR)


def render_docx(template: bytes, context: dict[str, Any], name: str) -> bytes:
    """Render one DOCX template held in memory; returns the filled DOCX's bytes."""
    document = DocxTemplate(io.BytesIO(template))
    try:
        document.render(context, jinja_environment(), autoescape=True)
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{name}: the template uses an unknown name: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{name}: Jinja syntax error on line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{name}: the template does not render: {exc}") from None
    properties = document.docx.core_properties
    for attribute, value in CORE_PROPERTIES.items():
        setattr(properties, attribute, value)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def render_agreement(record: CustomerRecord, processor: ProcessorConfig, templates: TemplateSet) -> bytes:
    """The filled DOCX of ``record``'s agreement with Annex 1 (one document, see :mod:`dpa.assembly.compose`).

    Rendered with the template set's compiled form (:class:`~dpa.assembly.compiled.CompiledDocx`), made once per
    process; :func:`render_docx` is docxtpl's own path, used by the template lint.
    """
    return templates.compiled.render(template_context(record, processor))

"""The difference policy behind ``dpa verify``: what may change in a PDF after a signature (DESIGN.md §6).

pyHanko's :data:`~pyhanko.sign.diff_analysis.DEFAULT_DIFF_POLICY` accepts changed values of any form field, new
signature fields (visible ones after approval signatures), any change of the document information dictionary and
any well-formed XMP. Legal must not accept those: after a signature only these may happen —

* an existing, empty signature field is filled (the other party signs) with its appearance;
* validation data is added to the document security store (DSS);
* a document timestamp is added in a new, *invisible* signature field;
* the document information dictionary and the XMP packet change only in their bookkeeping entries
  (modification date, producer, instance id), which signing tools such as Acrobat rewrite on every save.

Everything else — new fields of any kind, changed values, widget flags, annotations, page content, other catalog
entries — is left unexplained and therefore rejected by :class:`~pyhanko.sign.diff_analysis.StandardDiffPolicy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.ades.report import AdESFailure
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DiffResult,
    DSSCompareRule,
    FormUpdatingRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    SuspiciousModification,
    WhitelistRule,
    XrefStreamRule,
)
from pyhanko.sign.diff_analysis.commons import safe_whitelist
from pyhanko.sign.diff_analysis.form_rules_api import FieldComparisonContext, FormUpdate
from pyhanko.sign.diff_analysis.rules.form_field_rules import is_field_visible
from pyhanko.sign.diff_analysis.rules_api import ReferenceUpdate
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import SignatureCoverageLevel

from dpa.verify.annotations import MarkupAnnotationRule
from dpa.verify.appearance import SIGNING_FIELD_KEYS, EmptiedAppearanceRule
from dpa.verify.catalog import CatalogNeedsRule
from dpa.verify.explain import deterministic, escape, object_words, quoted
from dpa.verify.findings import ChargedChange, DocumentContext, SigState
from dpa.verify.flattened import FlattenedDrawingRule
from dpa.verify.xmp import xmp_change

VOLATILE_INFO_KEYS = frozenset({"/ModDate", "/Producer"})
"""Entries of ``/Info`` that a signing tool may rewrite; title, customer id, template version etc. may not change."""

ACROFORM_COMPARED_KEYS = ("/DR", "/NeedAppearances", "/DA", "/Q", "/SigFlags", "/XFA", "/CO")
"""AcroForm entries that may not change after a signature (besides /Fields, which the form rules judge)."""


class DocTimestampFieldCreationRule(SigFieldCreationRule):
    """pyHanko's signature-field creation rule, limited to invisible fields holding a document timestamp.

    Those are what PAdES B-LTA adds; any other new field — a visible signature field, an empty one, a text field —
    is reported by name as a suspicious modification.
    """

    def __init__(self, *, allow_signed_new_fields: bool = False) -> None:
        super().__init__(approve_widget_bindings=True, allow_new_visible_after_certify=allow_signed_new_fields)  # type: ignore[no-untyped-call]
        self.allow_signed_new_fields = allow_signed_new_fields

    def apply(self, context: FieldComparisonContext) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        """Veto new fields other than invisible document-timestamp fields, then defer to pyHanko's checks."""
        for name, spec in context.field_specs.items():
            if spec.old_field_ref is not None or spec.new_field_ref is None:
                continue
            field = spec.new_field
            if spec.field_type != "/Sig":
                raise SuspiciousModification(f"a new form field {quoted(name)} was added after signing")
            try:
                value = field["/V"] if field is not None else None
            except KeyError:
                value = None
            signed = (
                isinstance(value, generic.DictionaryObject)
                and value.get("/Type") in (None, "/Sig")
                and "/ByteRange" in value
            )
            if self.allow_signed_new_fields and signed:
                continue  # a signature in a new field: allowed here, judged by the engine (DESIGN.md §6 table)
            if field is None or is_field_visible(field):  # type: ignore[no-untyped-call]
                raise SuspiciousModification(f"a new visible signature field {quoted(name)} was added after signing")
            if not (isinstance(value, generic.DictionaryObject) and value.get("/Type") == "/DocTimeStamp"):
                raise SuspiciousModification(
                    f"a new signature field {quoted(name)} was added after signing (only document timestamps may add "
                    "fields)"
                )
        yield from super().apply(context)


class StrictDocInfoRule(WhitelistRule):
    """``/Info`` may be rewritten, but only its modification date and producer may differ."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Whitelist the new ``/Info`` when nothing but :data:`VOLATILE_INFO_KEYS` changed."""
        try:
            new_ref = new.trailer_view.get_value_as_reference("/Info", optional=True)
            old_ref = old.trailer_view.get_value_as_reference("/Info", optional=True)
        except misc.IndirectObjectExpected:
            raise SuspiciousModification("the document information dictionary is not an indirect object") from None
        if new_ref is None:
            if old_ref is not None:
                raise SuspiciousModification(
                    "the document information (title, customer id, template version) was removed after signing"
                )
            return
        # dereference in each revision: the trailer's references resolve to the newest object otherwise
        old_info = old(old_ref) if old_ref is not None else generic.DictionaryObject()
        new_info = new(new_ref)
        if not isinstance(new_info, generic.DictionaryObject) or isinstance(new_info, generic.StreamObject):
            raise SuspiciousModification("the document information dictionary was replaced by something else")
        if not isinstance(old_info, generic.DictionaryObject):  # pragma: no cover - the signed revision was read
            raise misc.PdfReadError("the signed revision's document information is not a dictionary")
        keys = (set(old_info.keys()) | set(new_info.keys())) - VOLATILE_INFO_KEYS
        changed = sorted(k for k in keys if _raw(old_info, k) != _raw(new_info, k))
        if changed:
            raise SuspiciousModification(
                f"the document information entries {', '.join(changed)} were changed after signing"
            )
        yield from map(ReferenceUpdate, safe_whitelist(old, old_ref, new_ref))


class StrictMetadataRule(MetadataUpdateRule):
    """pyHanko's XMP rule (well-formed XMP only), plus: only :data:`VOLATILE_XMP_PROPERTIES` may differ."""

    def __init__(self) -> None:
        super().__init__(check_xml_syntax=True, always_refuse_stream_override=False)  # type: ignore[no-untyped-call]

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Whitelist an XMP update whose content, bookkeeping properties aside, is unchanged."""
        updates = list(super().apply(old, new))
        if not updates:
            return
        old_xmp = _xmp_bytes(old)
        new_xmp = _xmp_bytes(new)
        if old_xmp != new_xmp:
            problem = xmp_change(old_xmp, new_xmp)
            if problem is not None:
                raise SuspiciousModification(problem)
        yield from updates


def _raw(dictionary: generic.DictionaryObject, key: str) -> object:
    try:
        return dictionary.raw_get(key)
    except KeyError:
        return None


def _xmp_bytes(revision: HistoricalResolver) -> bytes | None:
    try:
        ref = revision.root.get_value_as_reference("/Metadata")
    except (KeyError, misc.IndirectObjectExpected):
        return None
    stream = revision(ref)
    if not isinstance(stream, generic.StreamObject):
        return None
    data: bytes = stream.read_data(DecodePurpose.XMP_METADATA)
    return data


class StrictAcroFormRule(WhitelistRule):
    """The AcroForm's /DR, /NeedAppearances and the like may not change after a signature, even inside an indirect
    object (pyHanko's form rule would accept a rewritten /DR).

    One exception, because PDFBox-based signers make it: default resources (/DR) and a default appearance (/DA)
    may be *added* to a form that had none, as long as the form has no text or choice fields. Only those fields'
    appearances are ever built from the defaults, so for a form of signature fields (dpa's) they change nothing
    shown; replacing existing defaults, or adding them where text fields could use them, stays refused.
    """

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Raise for a changed AcroForm entry; whitelist nothing (the form rules do that)."""
        old_form, new_form = _entry(old.root, "/AcroForm"), _entry(new.root, "/AcroForm")
        for key in ACROFORM_COMPARED_KEYS:
            before, after = deep_value(_entry(old_form, key)), deep_value(_entry(new_form, key))
            if before == after:
                continue
            if key in ADDABLE_FORM_DEFAULTS and before is None and not _has_variable_text_fields(new_form):
                continue
            raise SuspiciousModification(f"the form's {key} entry (AcroForm) was changed after signing")
        return iter(())


ADDABLE_FORM_DEFAULTS = frozenset({"/DR", "/DA"})
VARIABLE_TEXT_FIELD_TYPES = frozenset({"/Tx", "/Ch"})
MAX_FIELDS_WALKED = 2000


def _has_variable_text_fields(form: object) -> bool:
    """Whether the form has a text or choice field (one whose appearance a viewer builds from /DR and /DA); a
    form too deep or too large to walk counts as having one."""
    pending = [(_entry(form, "/Fields"), 0)]
    walked = 0
    while pending:
        fields, depth = pending.pop()
        if isinstance(fields, generic.IndirectObject):
            fields = fields.get_object()  # type: ignore[no-untyped-call]
        if not isinstance(fields, generic.ArrayObject):
            continue
        for field in fields:
            walked += 1
            node = field.get_object() if isinstance(field, generic.IndirectObject) else field  # type: ignore[no-untyped-call]
            if walked > MAX_FIELDS_WALKED or depth > 16:
                return True
            if str(_entry(node, "/FT")) in VARIABLE_TEXT_FIELD_TYPES:
                return True
            pending.append((_entry(node, "/Kids"), depth + 1))
    return False


def _entry(container: object, key: str) -> object:
    if not isinstance(container, generic.DictionaryObject):
        return None
    try:
        return container[key]
    except KeyError:
        return None


def deep_value(obj: object, depth: int = 8) -> object:
    """A comparable picture of a PDF object with its references resolved (streams by their data), depth-limited."""
    if isinstance(obj, generic.IndirectObject):
        obj = obj.get_object()  # type: ignore[no-untyped-call]
    if depth <= 0:
        return "…"
    if isinstance(obj, generic.StreamObject):
        entries = tuple(sorted((str(k), deep_value(obj.raw_get(k), depth - 1)) for k in obj))
        return ("stream", entries, bytes(obj.encoded_data or b""))
    if isinstance(obj, generic.DictionaryObject):
        return tuple(sorted((str(k), deep_value(obj.raw_get(k), depth - 1)) for k in obj))
    if isinstance(obj, generic.ArrayObject):
        return tuple(deep_value(v, depth - 1) for v in obj)
    return repr(obj) if obj is not None else None


class RevisionChange(SuspiciousModification):
    """A change the policy refused, with the revision (0-based) whose update made it."""

    def __init__(self, cause: SuspiciousModification, revision: int) -> None:
        super().__init__(str(cause))
        self.revision = revision


class ChargingDiffPolicy(StandardDiffPolicy):
    """pyHanko's standard policy, remembering which revision made a refused change (to charge it to that update)."""

    def apply(
        self, old: HistoricalResolver, new: HistoricalResolver, field_mdp_spec: Any = None, doc_mdp: Any = None
    ) -> DiffResult:
        """As :meth:`StandardDiffPolicy.apply`; a refusal is a :class:`RevisionChange` of ``new``'s revision."""
        try:
            result: DiffResult = super().apply(old, new, field_mdp_spec, doc_mdp)
        except RevisionChange:
            raise
        except SuspiciousModification as exc:
            raise RevisionChange(exc, new.revision) from exc
        return result


def strict_diff_policy(*, allow_signed_new_fields: bool = False) -> StandardDiffPolicy:
    """The policy of DESIGN.md §6 (see the module docstring); ``allow_signed_new_fields`` for dpa's agreements,
    where a signature in a new field is named by the engine instead of blamed on the earlier signatures."""
    lta = ModificationLevel.LTA_UPDATES
    return ChargingDiffPolicy(
        global_rules=[
            CatalogModificationRule(ignored_keys=ROOT_KEYS_JUDGED_ELSEWHERE),  # type: ignore[no-untyped-call]
            StrictDocInfoRule().as_qualified(lta),
            XrefStreamRule().as_qualified(lta),
            ObjectStreamRule().as_qualified(lta),
            DSSCompareRule().as_qualified(lta),
            StrictMetadataRule().as_qualified(lta),
            StrictAcroFormRule().as_qualified(lta),
            CatalogNeedsRule().as_qualified(lta),
            EmptiedAppearanceRule().as_qualified(ModificationLevel.FORM_FILLING),
            *(
                [
                    MarkupAnnotationRule().as_qualified(ModificationLevel.ANNOTATIONS),
                    FlattenedDrawingRule().as_qualified(ModificationLevel.ANNOTATIONS),
                ]
                if allow_signed_new_fields
                else []
            ),
        ],
        form_rule=FormUpdatingRule(
            field_rules=[
                DocTimestampFieldCreationRule(allow_signed_new_fields=allow_signed_new_fields),
                SigFieldModificationRule(value_update_keys=SIGNING_FIELD_KEYS),
            ]
        ),
        reject_object_freeing=True,
        ignore_orphaned_objects=True,
        ignore_identical_objects=True,
    )


ROOT_KEYS_JUDGED_ELSEWHERE = frozenset({"/AcroForm", "/DSS", "/Metadata", "/Extensions", "/Version"})
"""Catalog entries other rules judge; every other entry (/Version, /MarkInfo, /Perms, …) must stay the same."""

STRICT_DIFF_POLICY = strict_diff_policy()
DPA_DIFF_POLICY = strict_diff_policy(allow_signed_new_fields=True)


def describe(exc: BaseException) -> str:
    """A one-sentence, single-line, deterministic version of a pyHanko SuspiciousModification message."""
    text = deterministic(str(exc))
    return text[:400] + ("…" if len(text) > 400 else "")


# --- judging what pyHanko's difference analysis found ---------------------------------------------------------------


def judge_integrity(state: SigState, status: Any) -> None:
    """The signed bytes and the signature value."""
    if not status.intact:
        state.add(
            AdESFailure.HASH_FAILURE,
            "the signed bytes no longer match the signature: the document was changed inside the signed range",
        )
    elif not status.valid:
        state.add(AdESFailure.SIG_CRYPTO_FAILURE, "the signature value does not verify with the signer's public key")


def judge_changes(doc: DocumentContext, state: SigState, status: Any) -> None:
    """Coverage, and every change after the signature against the policy; charged in words to what made it."""
    coverage = status.coverage
    state.coverage = coverage.name if coverage is not None else None
    if coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        state.add(
            AdESFailure.FORMAT_FAILURE,
            f"the signature does not cover a whole revision of the file (coverage: {state.coverage or 'unknown'})",
        )
        state.modification_level = ModificationLevel.OTHER.name
        return
    diff = status.diff_result
    if isinstance(diff, SuspiciousModification):
        state.modification_level = ModificationLevel.OTHER.name
        if state.intact and isinstance(diff, RevisionChange):
            doc.charged.append(ChargedChange(state, diff.revision, diff_text(diff, doc)))  # the engine names who
        else:
            where = f" (revision {diff.revision + 1} of the file)" if isinstance(diff, RevisionChange) else ""
            state.add(
                AdESFailure.FORMAT_FAILURE,
                f"the document was changed after this signature{where}: {diff_text(diff, doc)}",
            )
        return
    if not isinstance(diff, DiffResult):  # pragma: no cover - pyHanko always runs the diff here
        return
    level = diff.modification_level
    state.modification_level = level.name
    drawn = doc.added_annotations or doc.flattened_drawings
    tolerated = ModificationLevel.ANNOTATIONS if drawn else ModificationLevel.FORM_FILLING
    if level > tolerated:
        state.add(
            AdESFailure.FORMAT_FAILURE, f"the document was changed after this signature beyond signing ({level.name})"
        )
    # annotations in the customer's box exceed DocMDP P=2 too; they are named (INDETERMINATE) by the engine instead
    if getattr(status, "docmdp_ok", None) is False and level != ModificationLevel.ANNOTATIONS:
        state.add(
            AdESFailure.FORMAT_FAILURE,
            "the changes after this certification signature exceed the permissions it granted (DocMDP)",
        )
    changed = {escape(str(f)) for f in diff.changed_form_fields} - doc.allowed_fields - _timestamp_fields(doc)
    changed -= doc.new_signature_fields
    if changed:
        state.add(AdESFailure.FORMAT_FAILURE, f"form fields were changed after signing: {', '.join(sorted(changed))}")


def _timestamp_fields(doc: DocumentContext) -> set[str]:
    names: set[str] = set()
    for name, value, _ref in enumerate_sig_fields(doc.reader, filled_status=True):
        obj = value.get_object() if isinstance(value, generic.IndirectObject) else value  # type: ignore[no-untyped-call]
        if isinstance(obj, generic.DictionaryObject) and obj.get("/Type") == "/DocTimeStamp":
            names.add(escape(str(name)))
    return names


_REF = re.compile(r"Reference\(idnum=(\d+), generation=(\d+)\)")


def diff_text(exc: SuspiciousModification, doc: DocumentContext) -> str:
    """pyHanko's verdict on a later revision, in words: which objects changed, by kind and page."""
    text = describe(exc)
    if not text.startswith("There are unexplained xrefs"):
        return _REF.sub(lambda m: f"(object {m.group(1)})", text)
    refs = list(dict.fromkeys(_REF.findall(text.split(". Some objects")[0])))
    parts = [object_words(doc.reader, int(num), int(gen), doc.pages) for num, gen in refs[:8]]
    more = f" and {len(refs) - 8} more" if len(refs) > 8 else ""
    listed = ", ".join(parts)
    if isinstance(exc, RevisionChange):
        return f"it adds or replaces what signing does not explain: {listed}{more}"
    revision = re.search(r"in revision (\d+)", text)
    where = f" (revision {int(revision.group(1)) + 1} of the file)" if revision else ""
    return f"an update made after it{where} adds or replaces what signing does not explain: {listed}{more}"

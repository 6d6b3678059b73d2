"""What filling the prepared signature field may do to it besides setting its value and appearance.

* The field's widget may gain ``/M`` (its modification date, informative): poppler's signer sets it
  (:data:`SIGNING_FIELD_KEYS`, for pyHanko's signature-field rule).
* The field's previous, empty appearance stream may be rewritten empty under a higher generation of the same object
  number, as poppler does when it gives the widget a new appearance (:class:`EmptiedAppearanceRule`): the object
  draws nothing before and after, and the widget no longer uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import WhitelistRule
from pyhanko.sign.diff_analysis.constants import VALUE_UPDATE_KEYS
from pyhanko.sign.diff_analysis.rules_api import ReferenceUpdate
from pyhanko.sign.fields import enumerate_sig_fields

SIGNING_FIELD_KEYS = VALUE_UPDATE_KEYS | {"/M"}
"""What signing may change in a signature field besides its value and appearance (poppler adds the widget's /M)."""
MAX_EMPTY_APPEARANCE_BYTES = 64


def _normal_appearance(field: object) -> generic.Reference | None:
    if not isinstance(field, generic.DictionaryObject):
        return None
    appearance = field.get("/AP")
    if not isinstance(appearance, generic.DictionaryObject) or "/N" not in appearance:
        return None
    raw = appearance.raw_get("/N")
    return raw.reference if isinstance(raw, generic.IndirectObject) else None


def _draws_nothing(stream: object) -> bool:
    if not isinstance(stream, generic.StreamObject) or stream.get("/Subtype") != "/Form":
        return False
    try:
        data = stream.read_data(DecodePurpose.GENERIC, expected_size=MAX_EMPTY_APPEARANCE_BYTES)
    except (misc.PdfError, ValueError, TypeError):
        return False
    return len(data) <= MAX_EMPTY_APPEARANCE_BYTES and not data.strip()


def _signed_fields(old: HistoricalResolver, new: HistoricalResolver) -> Iterator[tuple[object, object]]:
    """(old field, new field) of every signature field that is empty in ``old`` and signed in ``new``."""
    empty = {str(name): ref for name, _v, ref in enumerate_sig_fields(old, filled_status=False)}
    for name, _value, ref in enumerate_sig_fields(new, filled_status=True):
        if str(name) in empty:
            yield empty[str(name)].get_object(), ref.get_object()


class EmptiedAppearanceRule(WhitelistRule):
    """Whitelist the emptied rewrite of a just-signed field's previous appearance (see the module docstring)."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """The rewritten old appearance streams, when each draws nothing and the widget has another appearance."""
        written = list(new.explicit_refs_in_revision())  # type: ignore[no-untyped-call]
        for old_field, new_field in _signed_fields(old, new):
            before, after = _normal_appearance(old_field), _normal_appearance(new_field)
            if before is None or after is None or after.idnum == before.idnum or not _draws_nothing(old(before)):
                continue
            for ref in written:
                if ref.idnum == before.idnum and ref.generation > before.generation and _draws_nothing(new(ref)):
                    yield ReferenceUpdate(ref)


__all__ = ["SIGNING_FIELD_KEYS", "EmptiedAppearanceRule"]

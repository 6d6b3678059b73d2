"""The catalog's /Extensions and /Version after a signature: only what the later signatures' algorithms need.

Signing tools declare what their signature needs in the document catalog: PAdES structures (a CAdES signature, a
document timestamp, a DSS) the ETSI extension ``/ESIC`` for PDF 1.7 — pyHanko writes level 1, iText 5 raises it to
level 2 (PAdES part 3) or 5 (part 4, long-term validation) — and the ISO extensions ``/ISO_`` of PDF 2.0:
ISO/TS 32001 for SHA-3 and SHAKE256, ISO/TS 32002 for EdDSA and ECDSA on the curves it lists. With them, the
catalog's ``/Version`` may be raised to the version the extension is defined for (1.7, 2.0); iText also writes a
``/Version`` equal to the file's header version.

Anything else is refused, and so is an extension a later signature does not need: what an extension declares
changes how a reader interprets the file, so it may come only with the signature that justifies it. Every
extension the signed revision had must stay as it was (``/ESIC`` may only be raised to a higher level).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import cms, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, parse_catalog_version
from pyhanko.sign.diff_analysis import SuspiciousModification, WhitelistRule
from pyhanko.sign.diff_analysis.rules_api import ReferenceUpdate
from pyhanko.sign.fields import enumerate_sig_fields

PADES_SUBFILTERS = frozenset({"/ETSI.CAdES.detached", "/ETSI.RFC3161"})
ISO32001_DIGESTS = frozenset({"sha3_224", "sha3_256", "sha3_384", "sha3_512", "shake256"})
ISO32002_CURVES = frozenset(
    {"secp256r1", "secp384r1", "secp521r1", "brainpoolp256r1", "brainpoolp384r1", "brainpoolp512r1"}
)
"""The curves ISO/TS 32002 lists (asn1crypto's names), as pyHanko's signer declares them."""
ESIC_LEVELS = range(1, 6)
EXTENSION_KEYS = frozenset({"/Type", "/BaseVersion", "/ExtensionLevel", "/ExtensionRevision", "/URL"})
PDF_1_7, PDF_2_0 = (1, 7), (2, 0)


@dataclass(frozen=True)
class Needs:
    """What the signatures, timestamps and validation data added since the signed revision need declared."""

    esic: bool = False
    iso32001: bool = False
    iso32002: bool = False

    @property
    def version(self) -> tuple[int, int] | None:
        """The PDF version the needed extensions are defined for (``None``: no extension needed)."""
        if self.iso32001 or self.iso32002:
            return PDF_2_0
        return PDF_1_7 if self.esic else None

    def __or__(self, other: Needs) -> Needs:
        return Needs(self.esic or other.esic, self.iso32001 or other.iso32001, self.iso32002 or other.iso32002)


def _signature_values(resolver: HistoricalResolver) -> dict[tuple[int, int], generic.DictionaryObject]:
    values: dict[tuple[int, int], generic.DictionaryObject] = {}
    for _name, _value, field_ref in enumerate_sig_fields(resolver, filled_status=True):
        raw = field_ref.get_object().raw_get("/V")
        if isinstance(raw, generic.IndirectObject):
            value = raw.get_object()  # type: ignore[no-untyped-call]
            if isinstance(value, generic.DictionaryObject):
                values[(raw.idnum, raw.generation)] = value
    return values


def needs_of(old: HistoricalResolver, new: HistoricalResolver) -> Needs:
    """What ``new`` adds over ``old`` (signatures, document timestamps, a DSS) needs declared in the catalog."""
    before = _signature_values(old)
    needs = Needs(esic="/DSS" in new.root and _entry(old.root, "/DSS") is None)
    for ref, value in _signature_values(new).items():
        if ref not in before:
            needs = needs | _needs_of_signature(value)
    return needs


def _needs_of_signature(value: generic.DictionaryObject) -> Needs:
    esic = str(value.get("/SubFilter", "")) in PADES_SUBFILTERS
    contents = value.get("/Contents")
    if not isinstance(contents, generic.ByteStringObject | generic.TextStringObject):
        return Needs(esic=esic)
    try:
        signed_data = cms.ContentInfo.load(bytes(contents.original_bytes))["content"]
        signer_info = signed_data["signer_infos"][0]
        digest = str(signer_info["digest_algorithm"]["algorithm"].native)
        algorithm = str(signer_info["signature_algorithm"].signature_algo)
        curve = _signer_curve(signed_data, signer_info) if algorithm == "ecdsa" else None
    except (ValueError, TypeError, KeyError, IndexError):
        return Needs(esic=esic)  # unreadable: it justifies nothing beyond its kind
    iso32001 = digest in ISO32001_DIGESTS or algorithm == "ed448"
    iso32002 = algorithm in ("ed25519", "ed448") or curve in ISO32002_CURVES
    return Needs(esic, iso32001, iso32002)


def _signer_curve(signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> str | None:
    sid = signer_info["sid"]
    for choice in signed_data["certificates"]:
        cert = choice.chosen
        if not isinstance(cert, x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number":
            match = cert.issuer_serial == _issuer_serial(sid.chosen)
        else:
            match = cert.key_identifier == sid.chosen.native
        if match:
            _kind, name = cert.public_key.curve
            return str(name)
    return None


def _issuer_serial(value: cms.IssuerAndSerialNumber) -> bytes:
    """As asn1crypto's ``Certificate.issuer_serial``."""
    serial: bytes = value["issuer"].sha256 + b":" + str(value["serial_number"].native).encode("ascii")
    return serial


class CatalogNeedsRule(WhitelistRule):
    """``/Extensions`` and ``/Version`` of the catalog: changed only as the later signatures need (module doc)."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        """Raise for an extension or version change the signatures added since ``old`` do not need."""
        needs = needs_of(old, new)
        _check_extensions(_entry(old.root, "/Extensions"), _entry(new.root, "/Extensions"), needs)
        _check_version(old, new, needs)
        return iter(())


def _check_extensions(old_ext: object, new_ext: object, needs: Needs) -> None:
    if old_ext is not None and not isinstance(new_ext, generic.DictionaryObject):
        raise SuspiciousModification("the catalog's /Extensions were removed after signing")
    old_keys = set(old_ext.keys()) if isinstance(old_ext, generic.DictionaryObject) else set()
    new_keys = set(new_ext.keys()) if isinstance(new_ext, generic.DictionaryObject) else set()
    for key in sorted(old_keys - new_keys):
        raise SuspiciousModification(f"the catalog's extension {key} was removed after signing")
    for key in sorted(new_keys):
        before, after = _entry(old_ext, key), _entry(new_ext, key)
        if key in old_keys and _same(before, after):
            continue
        if key == "/ESIC" and needs.esic:
            _check_esic(before, after)
        elif key == "/ISO_" and (needs.iso32001 or needs.iso32002):
            _check_iso(before, after, needs)
        elif key in old_keys:
            raise SuspiciousModification(f"the catalog's extension {key} was changed after signing")
        else:
            raise SuspiciousModification(
                f"the catalog gained the extension {key} after signing, which no later signature needs"
            )


def _dictionaries(value: object) -> list[generic.DictionaryObject]:
    items = list(value) if isinstance(value, generic.ArrayObject) else [value]
    if not items or not all(isinstance(item, generic.DictionaryObject) for item in items):
        raise SuspiciousModification("a catalog extension after signing is not a dictionary (or array of them)")
    return [item for item in items if isinstance(item, generic.DictionaryObject)]


def _extension(value: generic.DictionaryObject, base: str) -> int:
    """The extension level of a well-formed extension dictionary for PDF ``base``."""
    unknown = sorted(set(value.keys()) - EXTENSION_KEYS)
    level = value.get("/ExtensionLevel")
    if (
        unknown
        or value.get("/Type", "/DeveloperExtensions") != "/DeveloperExtensions"
        or str(value.get("/BaseVersion")) != base
        or not isinstance(level, generic.NumberObject)
    ):
        raise SuspiciousModification(f"a catalog extension added after signing is not one a signature needs ({base})")
    return int(level)


def _check_esic(before: object, after: object) -> None:
    declared = _dictionaries(after)
    if len(declared) != 1:
        raise SuspiciousModification("the catalog's extension /ESIC was declared more than once after signing")
    level = _extension(declared[0], "/1.7")
    old_level = _extension(_dictionaries(before)[0], "/1.7") if before is not None else 0
    if level not in ESIC_LEVELS or level < old_level:
        raise SuspiciousModification(f"the catalog's extension /ESIC was set to level {level} after signing")


def _check_iso(before: object, after: object, needs: Needs) -> None:
    kept = [_comparable(d) for d in _dictionaries(before)] if before is not None else []
    allowed = {32001} if needs.iso32001 else set()
    allowed |= {32002} if needs.iso32002 else set()
    remaining = list(kept)
    for item in _dictionaries(after):
        if _comparable(item) in remaining:
            remaining.remove(_comparable(item))
            continue
        level = _extension(item, "/2.0")
        if level not in allowed:
            raise SuspiciousModification(
                f"the catalog gained the extension ISO/TS {level} after signing, which no later signature needs"
            )
    if remaining:
        raise SuspiciousModification("the catalog's extension /ISO_ lost an entry after signing")


def _check_version(old: HistoricalResolver, new: HistoricalResolver, needs: Needs) -> None:
    before, after = _entry(old.root, "/Version"), _entry(new.root, "/Version")
    if _same(before, after):
        return
    old_version = parse_catalog_version(before) if before is not None else _header_version(old)
    new_version = parse_catalog_version(after) if after is not None else None
    needed = needs.version
    if new_version is not None and old_version is not None:
        if new_version == old_version:
            return  # the same version written out (iText writes the header's version into the catalog)
        if needed is not None and old_version < new_version <= needed:
            return  # raised to what the added extension is defined for
    raise SuspiciousModification(
        f"the catalog's /Version was changed after signing to {after or 'none'}, which no later signature needs"
    )


def _header_version(resolver: HistoricalResolver) -> tuple[int, int] | None:
    """The version in the file's ``%PDF-x.y`` header (the catalog's /Version only counts when it is later)."""
    stream = resolver.reader.stream
    position = stream.tell()
    try:
        stream.seek(0)
        head = stream.read(1024)
    finally:
        stream.seek(position)
    match = _HEADER.search(head)
    return (int(match.group(1)), int(match.group(2))) if match else None


_HEADER = re.compile(rb"%PDF-(\d)\.(\d)")


def _comparable(value: generic.DictionaryObject) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), repr(value.raw_get(k))) for k in value))


def _same(before: object, after: object) -> bool:
    return _picture(before) == _picture(after)


def _picture(value: object) -> object:
    if isinstance(value, generic.DictionaryObject):
        return tuple(sorted((str(k), _picture(value.raw_get(k))) for k in value))
    if isinstance(value, generic.ArrayObject):
        return tuple(_picture(v) for v in value)
    return repr(value) if value is not None else None


def _entry(container: object, key: str) -> object:
    if not isinstance(container, generic.DictionaryObject):
        return None
    try:
        return container[key]
    except KeyError:
        return None


__all__ = ["CatalogNeedsRule", "Needs", "needs_of"]

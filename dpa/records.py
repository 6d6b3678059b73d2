"""Customer records: TOML, JSON or CSV rows → validated, frozen :class:`CustomerRecord`.

Every problem of a record is reported at once, each naming its field (and, for CSV, its line). Text is
NFC-normalised; control characters, bidi controls and lone surrogates are rejected; lengths are capped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dpa.errors import RecordError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KVK_PATTERN = re.compile(r"^[0-9]{8}$")
NL_POSTCODE_PATTERN = re.compile(r"^([1-9][0-9]{3})\s?([A-Za-z]{2})$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
LANGUAGES = ("nl",)

MAX_LENGTHS = {
    "id": 64,
    "name": 200,
    "kvk": 8,
    "street": 120,
    "postcode": 16,
    "city": 80,
    "country": 2,
    "email": 254,
    "signatory_name": 120,
    "signatory_title": 120,
    "contract_ref": 80,
    "language": 2,
    "data_subjects": 500,
    "data_category": 300,
    "purposes": 1000,
}
MAX_ANNEX_ROWS = 20
MAX_ANNEX_CATEGORIES = 40

COUNTRY_NAMES = {
    "NL": "Nederland",
    "BE": "België",
    "DE": "Duitsland",
    "FR": "Frankrijk",
    "LU": "Luxemburg",
    "GB": "Verenigd Koninkrijk",
    "IE": "Ierland",
    "ES": "Spanje",
    "IT": "Italië",
    "AT": "Oostenrijk",
    "DK": "Denemarken",
    "SE": "Zweden",
    "PL": "Polen",
    "PT": "Portugal",
}


def country_name(code: str) -> str:
    """The Dutch name of an ISO 3166-1 alpha-2 country code, or the code itself when unknown."""
    return COUNTRY_NAMES.get(code, code)


FIELDS = (
    "id",
    "name",
    "kvk",
    "street",
    "postcode",
    "city",
    "country",
    "email",
    "signatory_name",
    "signatory_title",
    "contract_ref",
    "language",
)
LIST_FIELDS = ("annex_rows",)
REQUIRED_FIELDS = ("id", "name")


@dataclass(frozen=True)
class AnnexRow:
    """One row of Bijlage 1: who, which personal data, and why."""

    data_subjects: str
    data_categories: tuple[str, ...]
    purposes: str


DEFAULT_ANNEX_ROWS = (
    AnnexRow(
        data_subjects="Gebruikers en subgebruikers",
        data_categories=(
            "Gewone persoonsgegevens, zoals:",
            "- NAW-gegevens",
            "- Telefoonnummer",
            "- E-mailadres",
            "- Bezoekgedrag",
            "- IP-adres",
            "- Handtekening",
        ),
        purposes=(
            "het verwerken van de persoonsgegevens ter uitvoering van de diensten die onderdeel uitmaken van "
            "de overeenkomst tussen Verwerker en Verwerkingsverantwoordelijke."
        ),
    ),
)


@dataclass(frozen=True)
class CustomerRecord:
    """A validated customer: the controller party of one agreement."""

    id: str
    name: str
    kvk: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "NL"
    email: str = ""
    signatory_name: str = ""
    signatory_title: str = ""
    contract_ref: str = ""
    language: str = "nl"
    annex_rows: tuple[AnnexRow, ...] = field(default=DEFAULT_ANNEX_ROWS)

    @property
    def country_name(self) -> str:
        """The Dutch name of the country, or its code when unknown."""
        return country_name(self.country)

    def canonical_json(self) -> str:
        """A canonical serialisation: the input of :meth:`sha256` and what the register stores."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        """SHA-256 (hex) of the canonical record: part of the idempotency key and the PDF metadata."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _clean_text(value: Any, name: str, problems: list[str], limit_key: str | None = None) -> str | None:
    """NFC-normalise a text value and check it for forbidden characters and length.

    Returns the text; ``""`` when the value is absent or blank-looking (:func:`is_blank`); ``None`` when it was
    rejected (the problem is then already in ``problems``).
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(f"{name}: must be text")
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    if is_blank(text):
        return ""
    bad = _forbidden_character(text)
    if bad:
        problems.append(f"{name}: contains {bad}")
        return None
    limit = MAX_LENGTHS[limit_key or name]
    if len(text) > limit:
        problems.append(f"{name}: longer than {limit} characters ({len(text)})")
        return None
    return text


INVISIBLE_FILLERS = frozenset("\u034f\u115f\u1160\u2800\u3164\uffa0")
"""Letters and symbols that draw nothing: combining grapheme joiner, Hangul fillers, the blank Braille pattern."""


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: once every kind of white space (Unicode Zs/Zl/Zp, tabs and other control
    characters), every format character (Cf: zero-width space and joiners, BOM, soft hyphen …) and the invisible
    fillers are removed, nothing is left but combining marks (Mn/Me), if anything."""
    first = text[:1]
    if first.isascii() and first.isalnum():  # the usual case; Hangul fillers are letters too, so only ASCII here
        return False
    for char in text:
        if char.isspace() or char in INVISIBLE_FILLERS:
            continue
        if unicodedata.category(char) not in ("Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"):
            return False
    return True


def _required(name: str, raw: Any, problems: list[str]) -> None:
    """Report a required field that is missing, empty or blank-looking."""
    if raw is None or raw == "":
        problems.append(f"{name}: required")
    else:
        problems.append(
            f"{name}: required, but the value is blank (only white space, invisible or combining characters)"
        )


def _forbidden_character(text: str) -> str:
    """Describe the first control, format, bidi or surrogate character in ``text``, or return ''."""
    if text.isprintable():  # every character looked for below is unprintable: the usual case, checked in C
        return ""
    for index, char in enumerate(text):
        code = ord(char)
        if char in BIDI_CONTROLS:
            return f"a bidirectional control character U+{code:04X} at position {index + 1}"
        if 0xD800 <= code <= 0xDFFF:
            return f"a lone surrogate U+{code:04X} at position {index + 1}"
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            return f"a control character U+{code:04X} at position {index + 1}"
        if category == "Cf" and char != "\u00ad":
            return f"an invisible format character U+{code:04X} at position {index + 1}"
    return ""


def record_from_mapping(data: Mapping[str, Any], source: str = "") -> CustomerRecord:
    """Validate ``data`` (flat keys, optional ``annex_rows``) and build a record, or raise :class:`RecordError`."""
    problems: list[str] = []
    for key in data:
        if key not in FIELDS and key not in LIST_FIELDS:
            problems.append(f"{key}: unknown field (allowed: {', '.join(FIELDS + LIST_FIELDS)})")
    cleaned = {name: _clean_text(data.get(name), name, problems) for name in FIELDS}
    for name in REQUIRED_FIELDS:
        if cleaned[name] == "":
            _required(name, data.get(name), problems)
    values = {name: text or "" for name, text in cleaned.items()}

    if values["id"] and not ID_PATTERN.match(values["id"]):
        problems.append(
            "id: must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it becomes a file name)"
        )

    country = values["country"].upper() or "NL"
    if not COUNTRY_PATTERN.match(country):
        problems.append("country: must be an ISO 3166-1 alpha-2 code such as NL or BE")
    values["country"] = country

    kvk = values["kvk"].replace(" ", "").replace(".", "")
    if kvk and not KVK_PATTERN.match(kvk):
        problems.append("kvk: must be exactly 8 digits")
    elif not kvk and country == "NL":
        problems.append("kvk: required for a Dutch (NL) customer")
    values["kvk"] = kvk

    postcode = values["postcode"]
    if postcode and country == "NL":
        match = NL_POSTCODE_PATTERN.match(postcode)
        if match:
            postcode = f"{match.group(1)} {match.group(2).upper()}"
        else:
            problems.append("postcode: must be a Dutch postcode such as 1234 AB")
    values["postcode"] = postcode

    if values["email"] and not EMAIL_PATTERN.match(values["email"]):
        problems.append("email: not a valid e-mail address")

    language = values["language"] or "nl"
    if language not in LANGUAGES:
        problems.append(f"language: unsupported (available: {', '.join(LANGUAGES)})")
    values["language"] = language

    annex_rows = _annex_rows(data.get("annex_rows"), problems)

    if problems:
        raise RecordError(problems, source)
    return CustomerRecord(annex_rows=annex_rows, **values)


def _annex_rows(raw: Any, problems: list[str]) -> tuple[AnnexRow, ...]:
    if raw is None:
        return DEFAULT_ANNEX_ROWS
    if not isinstance(raw, list) or not raw:
        problems.append("annex_rows: must be a non-empty list of tables")
        return DEFAULT_ANNEX_ROWS
    if len(raw) > MAX_ANNEX_ROWS:
        problems.append(f"annex_rows: at most {MAX_ANNEX_ROWS} rows")
        return DEFAULT_ANNEX_ROWS
    rows = []
    for number, item in enumerate(raw, start=1):
        where = f"annex_rows[{number}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: must be a table with data_subjects, data_categories, purposes")
            continue
        for key in item:
            if key not in ("data_subjects", "data_categories", "purposes"):
                problems.append(f"{where}.{key}: unknown field")
        subjects = _clean_text(item.get("data_subjects"), f"{where}.data_subjects", problems, "data_subjects")
        purposes = _clean_text(item.get("purposes"), f"{where}.purposes", problems, "purposes")
        for key, value in (("data_subjects", subjects), ("purposes", purposes)):
            if value == "":
                _required(f"{where}.{key}", item.get(key), problems)
        raw_categories = item.get("data_categories")
        if isinstance(raw_categories, str):
            raw_categories = [raw_categories]
        if not isinstance(raw_categories, list) or len(raw_categories) > MAX_ANNEX_CATEGORIES:
            problems.append(f"{where}.data_categories: must be a list of at most {MAX_ANNEX_CATEGORIES} texts")
            raw_categories = []
        categories = tuple(
            _clean_text(c, f"{where}.data_categories", problems, "data_category") for c in raw_categories
        )
        if not any(categories) and None not in categories:
            _required(f"{where}.data_categories", raw_categories or None, problems)
        rows.append(AnnexRow(subjects or "", tuple(c for c in categories if c), purposes or ""))
    return tuple(rows)


def load_record(path: Path) -> CustomerRecord:
    """Read one record from a ``.toml`` or ``.json`` file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordError([f"cannot read the file: {exc.strerror or exc}"], str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError([f"not UTF-8 text (byte {exc.start + 1})"], str(path)) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text, object_pairs_hook=_unique_keys)
        else:
            raise RecordError(["unsupported file type: use .toml or .json (or a .csv with dpa batch)"], str(path))
    except tomllib.TOMLDecodeError as exc:
        raise RecordError([f"not valid TOML: {exc}"], str(path)) from None
    except json.JSONDecodeError as exc:
        raise RecordError([f"not valid JSON: {exc}"], str(path)) from None
    except _DuplicateKey as exc:
        raise RecordError(
            [f"the key '{exc.key}' appears more than once (which one counts would be a guess)"], str(path)
        ) from None
    if not isinstance(data, dict):
        raise RecordError(["must contain one object/table of fields"], str(path))
    return record_from_mapping(data, str(path))


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json`` object hook: a key twice in one object is an error, never "the last one wins"."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


@dataclass(frozen=True)
class CsvRow:
    """One data row of a CSV export: its line number and either a record or the error that rejects it."""

    line: int
    record: CustomerRecord | None
    error: RecordError | None
    raw_id: str


def iter_csv(path: Path, only_lines: frozenset[int] | None = None) -> Iterator[CsvRow]:
    """Stream the rows of a CRM export; each row is validated on its own (line numbers are 1-based).

    With ``only_lines``, only the rows that start on those lines are validated and yielded (a second pass over a
    file already validated once).
    """
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise RecordError([f"cannot read the file: {exc.strerror or exc}"], str(path)) from None
    with handle:
        try:
            reader = csv.DictReader(handle, strict=True)
            header = reader.fieldnames
            if not header:
                raise RecordError(["the CSV file is empty (no header line)"], str(path))
            duplicates = sorted({h for h in header if header.count(h) > 1})
            if duplicates:
                raise RecordError(
                    [
                        f"column(s) {', '.join(duplicates)} appear more than once in the header (which one counts "
                        "would be a guess)"
                    ],
                    f"{path}:1",
                )
            unknown = [h for h in header if h not in FIELDS]
            if unknown:
                raise RecordError(
                    [f"unknown column(s) {', '.join(unknown)} (allowed: {', '.join(FIELDS)})"], f"{path}:1"
                )
            if "id" not in header or "name" not in header:
                raise RecordError(["the header must contain at least the columns id and name"], f"{path}:1")
            for row in reader:
                line = reader.line_num
                if only_lines is not None and line not in only_lines:
                    continue
                source = f"{path}:{line}"
                raw_id = str(row.get("id") or "")
                if None in row:
                    error = RecordError(["more values than columns in the header"], source)
                    yield CsvRow(line, None, error, raw_id)
                    continue
                data = {k: v for k, v in row.items() if v not in (None, "")}
                try:
                    yield CsvRow(line, record_from_mapping(data, source), None, raw_id)
                except RecordError as exc:
                    yield CsvRow(line, None, exc, raw_id)
        except UnicodeDecodeError as exc:
            raise RecordError([f"not UTF-8 text (byte {exc.start + 1})"], str(path)) from None
        except csv.Error as exc:
            raise RecordError([f"malformed CSV: {exc}"], str(path)) from None

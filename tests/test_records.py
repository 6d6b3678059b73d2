"""Customer records: validation, normalisation and error reporting (DESIGN.md §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpa.errors import RecordError
from dpa.records import (
    DEFAULT_ANNEX_ROWS,
    iter_csv,
    load_record,
    record_from_mapping,
)

GOOD = {
    "id": "C-1001",
    "name": "Voorbeeld B.V.",
    "kvk": "12345678",
    "street": "Oudegracht 1",
    "postcode": "3511ab",
    "city": "Utrecht",
    "email": "info@voorbeeld.example",
    "signatory_name": "J. de Vries",
    "signatory_title": "Directeur",
}


def problems_of(**changes: object) -> list[str]:
    data = {**GOOD, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(RecordError) as info:
        record_from_mapping(data)
    return info.value.problems


def test_good_record_is_normalised() -> None:
    record = record_from_mapping({**GOOD, "name": "Cafe\u0301 Noe\u0308lle B.V."})
    assert record.postcode == "3511 AB"
    assert record.name == "Café Noëlle B.V."  # NFC
    assert record.country == "NL" and record.language == "nl"
    assert record.annex_rows == DEFAULT_ANNEX_ROWS
    assert len(record.sha256()) == 64


def test_record_hash_changes_with_content() -> None:
    assert record_from_mapping(GOOD).sha256() != record_from_mapping({**GOOD, "city": "Zeist"}).sha256()
    assert record_from_mapping(GOOD).sha256() == record_from_mapping(dict(GOOD)).sha256()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kvk": "1234567"}, "kvk"),
        ({"kvk": "1234567a"}, "kvk"),
        ({"kvk": None}, "kvk"),
        ({"postcode": "12345"}, "postcode"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"name": None}, "name"),
        ({"id": None}, "id"),
        ({"id": "../etc/passwd"}, "id"),
        ({"id": ".hidden"}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": "x" * 65}, "id"),
        ({"name": "Evil\u202eB.V."}, "name"),
        ({"name": "Tab\there"}, "name"),
        ({"city": "Line\nbreak"}, "city"),
        ({"name": "\ud800"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"country": "Netherlands"}, "country"),
        ({"language": "fr"}, "language"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_field_is_named(changes: dict[str, object], field: str) -> None:
    problems = problems_of(**changes)
    assert any(p.startswith(f"{field}:") for p in problems), problems


def test_all_problems_reported_at_once() -> None:
    problems = problems_of(kvk="12", email="nope", postcode="x", name=None)
    assert {p.split(":")[0] for p in problems} == {"kvk", "email", "postcode", "name"}


def test_foreign_customer_needs_no_kvk() -> None:
    record = record_from_mapping({"id": "BE-1", "name": "Belge SA", "country": "be", "postcode": "1000"})
    assert record.country == "BE" and record.kvk == "" and record.postcode == "1000"


def test_annex_rows() -> None:
    rows = [{"data_subjects": "Medewerkers", "data_categories": ["Naam", "Rooster"], "purposes": "Planning."}]
    record = record_from_mapping({**GOOD, "annex_rows": rows})
    assert record.annex_rows[0].data_categories == ("Naam", "Rooster")
    bad = problems_of(annex_rows=[{"data_subjects": "X", "purposes": "Y", "extra": 1}])
    assert any(p.startswith("annex_rows[1].extra") for p in bad)
    assert any(p.startswith("annex_rows[1].data_categories") for p in bad)


def test_load_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('id = "C-1"\nname = "A & B <B.V.>"\nkvk = "12345678"\n', encoding="utf-8")
    assert load_record(toml).name == "A & B <B.V.>"
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"id": "C-2", "name": "X", "kvk": "12345678"}), encoding="utf-8")
    assert load_record(js).id == "C-2"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.toml", b"\xff\xfe not utf8", "not UTF-8"),
        ("c.toml", b"id = ", "not valid TOML"),
        ("c.json", b"[1, 2]", "one object"),
        ("c.json", b"{", "not valid JSON"),
        ("c.yaml", b"id: 1", "unsupported file type"),
    ],
)
def test_unreadable_record_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RecordError, match=message):
        load_record(path)


def test_missing_record_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="cannot read"):
        load_record(tmp_path / "absent.toml")


def test_csv_rows_carry_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        'id,name,kvk\nC-1,Goed B.V.,12345678\nC-2,,12345678\n"C-3","Multi\nline",12345678\nC-4,Ok,1\n',
        encoding="utf-8",
    )
    rows = list(iter_csv(path))
    assert [r.record is not None for r in rows] == [True, False, False, False]
    assert rows[1].error is not None and rows[1].error.source.endswith(":3")
    assert "name: required" in str(rows[1].error)
    assert rows[2].error is not None and "name: contains a control character" in str(rows[2].error)
    assert rows[3].error is not None and rows[3].error.source.endswith(":6")


def test_csv_unknown_column(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("id,name,shoe_size\nC-1,X,42\n", encoding="utf-8")
    with pytest.raises(RecordError, match="unknown column"):
        list(iter_csv(path))


def test_example_files_are_valid() -> None:
    root = Path(__file__).resolve().parent.parent / "templates" / "examples"
    assert load_record(root / "customer.toml").id
    rows = list(iter_csv(root / "customers.csv"))
    assert len(rows) >= 15
    assert all(r.record is not None for r in rows), [str(r.error) for r in rows if r.error]
    assert len({r.record.id for r in rows if r.record}) == len(rows)


def test_the_demo_embeds_the_example_record() -> None:
    from dpa.records import load_record, record_from_mapping
    from dpa.workflows.demo import EXAMPLE_CUSTOMER

    example = Path(__file__).resolve().parent.parent / "templates" / "examples" / "customer.toml"
    assert record_from_mapping(EXAMPLE_CUSTOMER) == load_record(example)


def test_the_public_api_names_resolve() -> None:
    import dpa

    for name in dpa.__all__:
        assert getattr(dpa, name) is not None, name


BLANK_LOOKING = {
    "no-break spaces": "\u00a0\u00a0",
    "ideographic space": "\u3000",
    "em and thin spaces": "\u2003\u2009\u202f\u205f",
    "tabs and newlines": "\t\n\r\x0b\x0c",
    "line and paragraph separators": "\u2028\u2029",
    "zero-width space": "\u200b",
    "zero-width joiner and non-joiner": "\u200d\u200c",
    "byte order mark": "\ufeff",
    "word joiner and soft hyphen": "\u2060\u00ad",
    "only combining marks": "\u0301\u0308",
    "combining enclosing circle": "\u20dd",
    "space then combining mark": " \u0301 ",
    "Hangul filler": "\u3164",
    "blank Braille pattern": "\u2800",
    "mixed": "\u00a0\u200b\u3000\u0301\ufeff",
}


@pytest.mark.parametrize("value", list(BLANK_LOOKING.values()), ids=list(BLANK_LOOKING))
@pytest.mark.parametrize("field", ["id", "name"])
def test_blank_looking_required_field_is_an_error(field: str, value: str) -> None:
    problems = problems_of(**{field: value})
    assert f"{field}: required, but the value is blank" in " | ".join(problems), problems


@pytest.mark.parametrize("value", list(BLANK_LOOKING.values()), ids=list(BLANK_LOOKING))
def test_blank_looking_annex_text_is_an_error(value: str) -> None:
    rows = [{"data_subjects": value, "data_categories": [value], "purposes": value}]
    problems = " | ".join(problems_of(annex_rows=rows))
    for key in ("data_subjects", "data_categories", "purposes"):
        assert f"annex_rows[1].{key}: required, but the value is blank" in problems, problems


def test_an_id_is_never_empty() -> None:
    for value in ("", "\u00a0", "\u200b", "\u0301"):
        with pytest.raises(RecordError, match="id: required"):
            record_from_mapping({**GOOD, "id": value})


def test_visible_text_with_marks_and_inner_spaces_is_kept() -> None:
    record = record_from_mapping({**GOOD, "name": "e\u0301e\u0301n\u00a0B.V.", "signatory_title": "\u00a0"})
    assert record.name == "één\u00a0B.V."
    assert record.signatory_title == ""  # an optional field that only looks filled in is simply not filled in


def test_invisible_characters_inside_a_value_are_refused() -> None:
    problems = problems_of(name="Acme\u200bB.V.")
    assert problems == ["name: contains an invisible format character U+200B at position 5"]


def test_duplicate_json_keys_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"id": "C-1", "name": "Echt B.V.", "kvk": "12345678", "name": "Anders B.V."}', encoding="utf-8")
    with pytest.raises(RecordError, match="the key 'name' appears more than once"):
        load_record(path)
    nested = '{"id": "C-1", "name": "X", "kvk": "12345678", "annex_rows": [{"purposes": "a", "purposes": "b"}]}'
    path.write_text(nested, encoding="utf-8")
    with pytest.raises(RecordError, match="the key 'purposes' appears more than once"):
        load_record(path)


def test_duplicate_toml_keys_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('id = "C-1"\nname = "Echt B.V."\nkvk = "12345678"\nname = "Anders B.V."\n', encoding="utf-8")
    with pytest.raises(RecordError, match="not valid TOML"):
        load_record(path)


def test_duplicate_csv_headers_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("id,name,kvk,name\nC-1,Echt B.V.,12345678,Anders B.V.\n", encoding="utf-8")
    with pytest.raises(RecordError, match="name appear more than once in the header") as info:
        list(iter_csv(path))
    assert info.value.source.endswith(":1")


def test_blank_looking_csv_value_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("id,name,kvk\nC-1,\u00a0\u200b,12345678\n\u3000,Goed B.V.,12345678\n", encoding="utf-8")
    rows = list(iter_csv(path))
    assert [r.record for r in rows] == [None, None]
    assert "name: required, but the value is blank" in str(rows[0].error)
    assert "id: required" in str(rows[1].error)

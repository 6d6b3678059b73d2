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

"""Fictional customers for batch tests and benchmarks: valid CRM rows, and the classic bad ones."""

from __future__ import annotations

import csv
from pathlib import Path

from dpa.records import FIELDS

CITIES = (("Utrecht", "3511"), ("Amersfoort", "3811"), ("Zwolle", "8011"), ("Haarlem", "2011"), ("Delft", "2611"))
KINDS = ("Installatietechniek", "Bakkerij", "Tandartsenpraktijk", "Advocatenkantoor", "Fietsenmaker", "Makelaardij")


def customer_row(i: int) -> dict[str, str]:
    """A valid, distinct fictional customer number ``i``."""
    city, postcode = CITIES[i % len(CITIES)]
    return {
        "id": f"T-{i:05d}",
        "name": f"{KINDS[i % len(KINDS)]} Klant {i} B.V.",
        "kvk": f"{60000000 + i:08d}",
        "street": f"Dorpsstraat {i % 300 + 1}",
        "postcode": f"{postcode} {'AB' if i % 2 else 'CD'}",
        "city": city,
        "country": "NL",
        "email": f"info@klant{i}.example.nl",
        "signatory_name": f"J. Jansen {i}",
        "signatory_title": "directeur",
        "contract_ref": f"IPC-2026-{i:04d}" if i % 3 else "",
        "language": "nl",
    }


BAD_ROWS = {
    "kvk": {"kvk": "1234"},
    "name": {"name": ""},
    "control": {"name": "Evil\x07Corp B.V."},
    "unsafe id": {"id": "../etc/passwd"},
}


def write_customers(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write ``rows`` as a CRM export with the standard header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path

"""Writing evidence: never replacing a file, moving aside without taking another name (real files)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dpa.errors import EvidenceError
from dpa.files import move_aside, write_new


def test_write_new_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "signed" / "C-1+1.pdf"
    assert write_new(target, b"%PDF first") is True
    assert write_new(target, b"%PDF first") is False, "the same bytes again: nothing to do"
    with pytest.raises(EvidenceError, match="never replaced"):
        write_new(target, b"%PDF second")
    assert target.read_bytes() == b"%PDF first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["C-1+1.pdf"], "no temporary file left"


def test_write_new_from_two_threads_keeps_exactly_one(tmp_path: Path) -> None:
    target = tmp_path / "race.pdf"
    outcomes: list[str] = []

    def write(data: bytes) -> None:
        try:
            write_new(target, data)
            outcomes.append("written")
        except EvidenceError:
            outcomes.append("refused")

    threads = [threading.Thread(target=write, args=(f"%PDF {i}".encode() * 1000,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("written") == 1 and outcomes.count("refused") == 7
    assert target.read_bytes() in {f"%PDF {i}".encode() * 1000 for i in range(8)}


def test_move_aside_never_takes_a_customers_name(tmp_path: Path) -> None:
    original = tmp_path / "C-1.pdf"
    original.write_bytes(b"%PDF C-1")
    aside = move_aside(original)
    assert "~" in aside.name and aside.name.startswith("C-1.") and aside.read_bytes() == b"%PDF C-1"
    assert not original.exists()
    # the same bytes moved aside again: the copy is already there, the original goes
    original.write_bytes(b"%PDF C-1")
    assert move_aside(original) == aside and not original.exists()
    # another file already under the name a move would take (planted by hand) is never replaced
    original.write_bytes(b"%PDF C-1, other")
    planted = original.with_name(move_aside_name(original))
    planted.write_bytes(b"something else")
    with pytest.raises(EvidenceError, match="exists with other content"):
        move_aside(original)
    assert original.read_bytes() == b"%PDF C-1, other" and planted.read_bytes() == b"something else"


def move_aside_name(path: Path) -> str:
    import hashlib

    return f"{path.stem}.~{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}.pdf"

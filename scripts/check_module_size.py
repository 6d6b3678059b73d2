"""Lint: no module under dpa/ has more than 500 lines (DESIGN §2: ~400 lines, hard limit 500).

Run by `make lint`. A module may be listed in PENDING while the work that splits it is under way. Once it is under
the limit (or gone) the check says so, so that the entry is removed, without failing: the split lands on another
branch than this list.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 500
REPO = Path(__file__).resolve().parent.parent
PENDING: dict[str, str] = {}


def line_count(path: Path) -> int:
    """Physical lines, as an editor shows them."""
    return len(path.read_text(encoding="utf-8").splitlines())


def problems(root: Path = REPO) -> tuple[list[str], list[str]]:
    """Every module over the limit that is not pending; and the pending entries that are no longer needed."""
    found, stale = [], []
    for path in sorted((root / "dpa").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        lines = line_count(path)
        if lines > LIMIT and name not in PENDING:
            found.append(f"{name}: {lines} lines (limit {LIMIT}): split it by what its parts own")
        if lines <= LIMIT and name in PENDING:
            stale.append(f"{name}: {lines} lines, under the limit now: remove it from PENDING in {Path(__file__).name}")
    for name in PENDING:
        if not (root / name).exists():
            stale.append(f"{name}: listed in PENDING but gone: remove the entry from {Path(__file__).name}")
    return found, stale


def main() -> int:
    """Print the problems (and the stale entries, as notes); exit 1 when there is a problem."""
    found, stale = problems()
    for line in found:
        print(line)
    for line in stale:
        print(f"note: {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""File helpers shared by every stage: reading inputs with clear errors, writing outputs atomically and durably,
keeping replaced outputs, and making data safe for spreadsheets."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from dpa.errors import DpaError


def read_input(path: Path, what: str) -> bytes:
    """Read an input file, turning OS errors into a :class:`DpaError` that names the file."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DpaError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise DpaError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DpaError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def move_aside(path: Path) -> Path:
    """Rename an existing output to ``<stem>.<sha256 prefix>.pdf`` beside it; returns the new path."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    aside = path.with_name(f"{path.name.removesuffix('.pdf')}.{digest}.pdf")
    os.replace(path, aside)
    _fsync_folder(path.parent)
    return aside


SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Neutralise a formula in data written to CSV for spreadsheets (CSV injection): a leading =, +, -, @ gets '."""
    return "'" + value if value.startswith(SPREADSHEET_TRIGGERS) else value


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mode_for(path: Path) -> int:
    """The mode a replaced file had, or the usual mode for a new file (mkstemp's own 0600 would surprise users)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _read_umask() -> int:
    umask = os.umask(0)  # the only way to read it; done once at import, before any thread starts
    os.umask(umask)
    return umask


_UMASK = _read_umask()

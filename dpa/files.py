"""File helpers shared by every stage: reading inputs with clear errors, writing outputs atomically and durably,
keeping replaced outputs, and making data safe for spreadsheets."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from dpa.errors import DpaError, EvidenceError


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


def write_new(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically, never replacing a file that is there: for evidence.

    Returns True when the file was written, False when ``path`` already holds exactly ``data``. Raises
    :class:`~dpa.errors.EvidenceError` when it holds anything else. The final name is made with a hard link of a
    complete, fsynced temporary file, which fails instead of replacing (even when another process writes the
    same name at the same moment).
    """
    path = Path(path)
    if _same_content(path, data):
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise DpaError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        if _same_content(path, data):
            return False
        raise EvidenceError(f"{path} already exists with other content; it is never replaced") from None
    except OSError as exc:
        raise DpaError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return True


def move_aside(path: Path) -> Path:
    """Rename an existing output to ``<name>.~<sha256 prefix>.pdf`` beside it, never replacing a file; returns the
    new path.

    Ids and generated names never contain ``~``, so a moved-aside copy cannot take another customer's name. When
    that name already holds the same bytes, ``path`` is only removed (its content is kept there).
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    aside = path.with_name(f"{path.name.removesuffix('.pdf')}.~{digest}.pdf")
    try:
        os.link(path, aside)
    except FileExistsError:
        if not _same_content(aside, data):
            raise EvidenceError(f"cannot move {path} aside: {aside} exists with other content") from None
    os.unlink(path)
    _fsync_folder(path.parent)
    return aside


def file_sha256(path: Path) -> str | None:
    """SHA-256 (hex) of a regular file's content, or None when there is no readable regular file at ``path``."""
    try:
        if not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _same_content(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file holding exactly ``data`` (False when there is none)."""
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


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

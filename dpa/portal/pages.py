"""The agreement's pages as images for the signing page, drawn with poppler's ``pdftoppm`` and cached per issued
file.

The images are made once per issued file (by its SHA-256, which the register checks against the file first) into
``OUTPUT/web/pages/<sha256>/page-N.png``: rendered into a temporary folder beside it and renamed into place, so a
half-drawn set never shows and two requests at once at worst draw it twice. Nothing here reads a path from a
request: the page number is an integer, the folder name a hash.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from dpa.portal.errors import PagesUnavailable

PAGE_WIDTH = 820
"""Pixels across a page image (A4 at about 100 dpi): readable on a screen, small enough to load quickly."""
TIMEOUT_S = 120
_NAME = re.compile(r"^page-(\d+)\.png$")
_LOCK = threading.Lock()


def page_images(load: Callable[[], bytes], sha256: str, cache: Path, *, width: int = PAGE_WIDTH) -> list[Path]:
    """The page images of the PDF whose SHA-256 is ``sha256``, in page order; drawn on first use from what
    ``load`` returns (which must check the file against that hash, as
    :func:`~dpa.portal.invitations.issued_file_bytes` does)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("sha256 must be a hex SHA-256 digest")
    folder = cache / sha256
    if not folder.is_dir():
        with _LOCK:
            if not folder.is_dir():
                _draw(load(), folder, width)
    pages = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)))
    return [path for _number, path in pages]


def _draw(pdf: bytes, folder: Path, width: int) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".drawing-", dir=folder.parent))
    try:
        source = work / "agreement.pdf"
        source.write_bytes(pdf)
        command = ["pdftoppm", "-png", "-scale-to-x", str(width), "-scale-to-y", "-1", str(source), str(work / "p")]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_S)
        except FileNotFoundError:
            raise PagesUnavailable("pdftoppm (poppler-utils) is not installed: the pages cannot be shown") from None
        except subprocess.TimeoutExpired:
            raise PagesUnavailable(f"drawing the agreement's pages took longer than {TIMEOUT_S} s") from None
        except subprocess.CalledProcessError as exc:
            reason = exc.stderr.decode(errors="replace").strip()[:200]
            raise PagesUnavailable(f"pdftoppm could not draw the agreement's pages: {reason}") from None
        source.unlink()
        drawn = sorted(work.glob("p-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        if not drawn:
            raise PagesUnavailable("pdftoppm drew no pages")
        for number, path in enumerate(drawn, start=1):
            path.rename(work / f"page-{number}.png")
        try:
            os.rename(work, folder)
        except OSError:
            if not folder.is_dir():  # not another process that drew them first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)

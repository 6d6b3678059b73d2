"""Uploaded files: names that are safe to show and to write, and a temporary place for the library to read them.

The body size is capped before anything is parsed (:mod:`dpa.web.security`); a client that disconnects mid-upload
never reaches a route, and Starlette's spooled temporary files are anonymous, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from starlette.datastructures import FormData, UploadFile

from dpa.errors import WebError

_UNSAFE = re.compile(r"[^\w.\- ()+,&']", re.UNICODE)
MAX_NAME = 100


def safe_name(raw: str | None, default: str = "upload.pdf") -> str:
    """The base name of an uploaded file without folders, control, format or bidi characters; capped."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] not in ("C", "Z") or c == " "
    )
    name = _UNSAFE.sub("_", name).strip(" .")
    return name[:MAX_NAME] or default


async def uploaded_files(form: FormData, field: str) -> list[tuple[str, bytes]]:
    """(safe name, bytes) of every non-empty file in ``field``."""
    files = []
    for item in form.getlist(field):
        if isinstance(item, UploadFile):
            data = await item.read()
            if data:
                files.append((safe_name(item.filename), data))
    if not files:
        raise WebError("choose at least one file to upload")
    return files


@contextlib.contextmanager
def staged(folder: Path, name: str, data: bytes) -> Iterator[Path]:
    """``data`` as ``folder/<random>/name`` for as long as the block runs; removed afterwards, whatever happens."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix="upload-", dir=folder))
    try:
        path = holder / name
        path.write_bytes(data)
        yield path
    finally:
        shutil.rmtree(holder, ignore_errors=True)

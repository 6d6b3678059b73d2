"""Where signed PDFs go: default output names, and the same-file check behind ``--in-place``.

The atomic write itself is :func:`dpa.files.write_atomic` (temporary file in the same folder + rename).
"""

from __future__ import annotations

import os
from pathlib import Path

PROCESSOR_SUFFIX = ".processor-signed"
BOTH_SUFFIX = ".signed"


def default_output_path(source: Path, role: str) -> Path:
    """The default name of a signed copy, next to the input.

    ``acme.pdf`` signed by the processor becomes ``acme.processor-signed.pdf``; that file counter-signed by the
    controller becomes ``acme.signed.pdf`` (both parties have signed). A trailing ``.processor-signed`` or
    ``.signed`` in the input name is replaced, not repeated.
    """
    stem = source.stem
    for suffix in (PROCESSOR_SUFFIX, BOTH_SUFFIX):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    suffix = PROCESSOR_SUFFIX if role == "processor" else BOTH_SUFFIX
    return source.with_name(f"{stem}{suffix}.pdf")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (resolving links; existing files compared by inode)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()

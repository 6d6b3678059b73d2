"""DESIGN §9: every signed PDF a test leaves under ``tmp_path`` is verified before the test ends.

The autouse fixture :func:`verify_signed_output` runs after each test that used ``tmp_path``. It does not know the
test's PKI, so "verified" means what holds for every honest signed file whoever signed it:

* pyHanko reads the file (leniently, as another tool's update may need) and, for every signature and document
  timestamp in it, finds the signed bytes intact (the digest over its /ByteRange matches) and the signature value
  valid for the certificate in the CMS; an embedded signature timestamp token must be intact and valid too. No
  trust is required (each test checks trust against its own roots itself) and nothing is fetched.
* poppler's ``pdfsig -nocert``, an independent implementation, finds the same number of signatures and calls
  every one of them valid (it exits 0 even on "Digest Mismatch", so its text is read); document timestamps,
  which poppler 22 reports as "not yet verified", are left to pyHanko.

A test that leaves broken files on purpose says so: ``@pytest.mark.tampered`` (every file) or
``@pytest.mark.tampered("bad-*.pdf", ...)`` (files matching these globs, relative to ``tmp_path``), or at run time
through the ``tampered_files`` fixture (``tampered_files.add(path)``). Any other failure is a test ERROR that
names the file and what is wrong with it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

MAX_SCANNED_BYTES = 64 * 1024 * 1024


def signed_pdf_problems(path: Path) -> list[str]:
    """What is wrong with the signatures of ``path`` (empty: every one verifies, or it is not a signed PDF)."""
    try:
        if path.stat().st_size > MAX_SCANNED_BYTES:
            return []
        data = path.read_bytes()
    except OSError:
        return []
    if not data.startswith(b"%PDF-") or b"/ByteRange" not in data:
        return []
    count, problems = _pyhanko_problems(data)
    if count is not None:
        problems.extend(_pdfsig_problems(path, count))
    return problems


def _validation_context() -> object:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(trust_roots=[], allow_fetching=False, revocation_mode="soft-fail")


@contextlib.contextmanager
def _quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs a traceback for every certificate it cannot chain; without trust roots that is every one."""
    loggers = [logging.getLogger(name) for name in ("pyhanko", "pyhanko_certvalidator")]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)  # their modules' loggers inherit it
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)


def _pyhanko_problems(data: bytes) -> tuple[int | None, list[str]]:
    """How many signatures pyHanko finds (``None``: it cannot read them) and what is wrong with them.

    Run in a thread of its own: pyHanko's synchronous API starts an event loop, and a test may leave one running in
    this thread (Playwright's synchronous API does)."""
    with _quiet_pyhanko(), concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_pyhanko_checks, data).result()


def _pyhanko_checks(data: bytes) -> tuple[int | None, list[str]]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    try:
        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception as exc:
        return None, [f"pyHanko cannot read the signatures ({type(exc).__name__}: {exc})"]
    problems = []
    for sig in signatures:
        name = sig.field_name
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                status = validate_pdf_timestamp(sig, validation_context=_validation_context())
            else:
                context = _validation_context()
                status = validate_pdf_signature(sig, context, ts_validation_context=context)
        except Exception as exc:
            problems.append(f"{name}: pyHanko cannot validate it ({type(exc).__name__}: {exc})")
            continue
        if not status.intact:
            problems.append(f"{name}: the signed bytes were changed (digest mismatch)")
        elif not status.valid:
            problems.append(f"{name}: the signature value is not valid for its certificate")
        stamp = getattr(status, "timestamp_validity", None)
        if stamp is not None and not (stamp.intact and stamp.valid):
            problems.append(f"{name}: its signature timestamp token is broken")
    return len(signatures), problems


def _pdfsig_problems(path: Path, expected: int) -> list[str]:
    proc = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, check=False, timeout=60)
    parts = re.split(r"^Signature #(\d+):\s*$", proc.stdout, flags=re.M)[1:]
    blocks = [
        (number, block)
        for number, block in zip(parts[::2], parts[1::2], strict=True)
        if "The signature form field is not signed." not in block  # an empty field
    ]
    problems = []
    if len(blocks) != expected:
        problems.append(f"pdfsig finds {len(blocks)} signatures, pyHanko {expected}: {proc.stderr.strip()[:200]}")
    for number, block in blocks:
        if "Signature Validation: Signature is Valid." in block:
            continue
        if "Signature Type: unknown" in block and "Signature has not yet been verified." in block:
            continue  # a document timestamp (ETSI.RFC3161): poppler 22 does not check those; pyHanko did above
        verdict = re.search(r"Signature Validation: (.*)", block)
        problems.append(f"pdfsig signature #{number}: {verdict.group(1) if verdict else 'no verdict'}")
    return problems


def unverified_files(folder: Path, exempt: set[Path], patterns: tuple[str, ...]) -> dict[Path, list[str]]:
    """Every PDF under ``folder`` (recursively) whose signatures do not verify, except the exempt ones."""
    skipped = {p.resolve() for p in exempt}
    for pattern in patterns:
        skipped.update(p.resolve() for p in folder.glob(pattern))
    found: dict[Path, list[str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() != ".pdf" or not path.is_file() or path.is_symlink() or path.resolve() in skipped:
            continue
        problems = signed_pdf_problems(path)
        if problems:
            found[path] = problems
    return found


@pytest.fixture
def tampered_files() -> set[Path]:
    """Files under ``tmp_path`` that this test breaks on purpose (add to the set); they are not verified."""
    return set()


@pytest.fixture(autouse=True)
def verify_signed_output(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test: every signed PDF it left under ``tmp_path`` verifies (see the module docstring)."""
    if "tmp_path" not in request.fixturenames:
        yield
        return
    folder: Path = request.getfixturevalue("tmp_path")  # set up first, so that it is torn down after this check
    exempt: set[Path] = request.getfixturevalue("tampered_files")
    yield
    marker = request.node.get_closest_marker("tampered")
    if marker is not None and not marker.args:
        return
    patterns = tuple(str(a) for a in marker.args) if marker is not None else ()
    broken = unverified_files(folder, exempt, patterns)
    if broken:
        lines = [f"{path.relative_to(folder)}: {'; '.join(problems)}" for path, problems in broken.items()]
        pytest.fail(
            "signed PDFs left under tmp_path do not verify (DESIGN §9); if the test breaks them on purpose, mark it "
            "@pytest.mark.tampered or add them to tampered_files:\n  " + "\n  ".join(lines),
            pytrace=False,
        )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``tampered`` marker (also when this module is loaded with ``-p``)."""
    config.addinivalue_line(
        "markers", "tampered(*globs): the test leaves broken signed PDFs under tmp_path on purpose (all, or these)"
    )

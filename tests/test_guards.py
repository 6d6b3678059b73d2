"""The suite's own guards catch what they are for, and no process outlives its owner.

* ``tests.signed_output``: a signed PDF left broken under ``tmp_path`` without a ``tampered`` mark fails its test;
* ``tests.leftovers``: processes the session started are found even after they were re-parented;
* the verification worker, LibreOffice (bridge and soffice.bin) and ``dpa tsa serve`` end when their owner is
  killed with SIGKILL (no chance to clean up).
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from dpa.devtools.devpki import DevPki
from tests import tamper
from tests.leftovers import processes_with
from tests.signed_output import signed_pdf_problems
from tests.signing_support import build_test_agreement

# --- signed output is verified ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_and_bad(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``good.pdf`` (signed, intact) and ``bad.pdf`` (the same with one signed byte changed)."""
    folder = tmp_path_factory.mktemp("signed-output")
    signed = tamper.pyhanko_sign(build_test_agreement(), "processor_signature", dev_pki.processor, None)
    (folder / "good.pdf").write_bytes(signed)
    offset = signed.index(b"Verwerkersovereenkomst (test)")  # inside the first byte range: the XMP title
    (folder / "bad.pdf").write_bytes(tamper.flip_byte(signed, offset))
    return folder


def test_the_check_passes_a_good_file_and_names_what_is_wrong_with_a_bad_one(good_and_bad: Path) -> None:
    assert signed_pdf_problems(good_and_bad / "good.pdf") == []
    problems = signed_pdf_problems(good_and_bad / "bad.pdf")
    assert any("digest mismatch" in p for p in problems), problems  # pyHanko
    assert any(p.startswith("pdfsig signature #1:") for p in problems), problems  # and poppler, independently


def test_a_document_timestamp_is_judged_by_pyhanko(good_and_bad: Path, dev_pki: DevPki, tmp_path: Path) -> None:
    """poppler 22 does not check document timestamps ("not yet verified"); pyHanko's verdict stands for them."""
    out = io.BytesIO()
    with tamper.local_tsa(dev_pki.tsa) as stamper:
        writer = IncrementalPdfFileWriter(io.BytesIO((good_and_bad / "good.pdf").read_bytes()))
        signers.PdfTimeStamper(stamper).timestamp_pdf(writer, "sha256", output=out)
    (tmp_path / "sealed.pdf").write_bytes(out.getvalue())
    assert signed_pdf_problems(tmp_path / "sealed.pdf") == []
    sealed = out.getvalue()
    (tmp_path / "sealed-bad.pdf").write_bytes(tamper.flip_byte(sealed, sealed.index(b"Verwerkersovereenkomst (test)")))
    problems = signed_pdf_problems(tmp_path / "sealed-bad.pdf")
    assert any(p.startswith("Timestamp-") and "digest mismatch" in p for p in problems), problems
    (tmp_path / "sealed-bad.pdf").unlink()


def test_a_file_without_signatures_is_not_judged(tmp_path: Path) -> None:
    (tmp_path / "unsigned.pdf").write_bytes(build_test_agreement())
    (tmp_path / "not-a.pdf").write_bytes(b"/ByteRange but no PDF")
    assert signed_pdf_problems(tmp_path / "unsigned.pdf") == signed_pdf_problems(tmp_path / "not-a.pdf") == []


def test_the_fixture_fails_a_test_that_leaves_a_tampered_file_unmarked(
    pytester: pytest.Pytester, good_and_bad: Path
) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import shutil
            from pathlib import Path

            import pytest

            SOURCE = Path({str(good_and_bad)!r})


            def leave(folder, *names):
                for name in names:
                    (folder / "out").mkdir(exist_ok=True)
                    shutil.copy(SOURCE / name, folder / "out" / name)


            def test_good_file(tmp_path):
                leave(tmp_path, "good.pdf")


            def test_tampered_unmarked(tmp_path):
                leave(tmp_path, "good.pdf", "bad.pdf")


            @pytest.mark.tampered
            def test_tampered_marked(tmp_path):
                leave(tmp_path, "bad.pdf")


            @pytest.mark.tampered("out/bad*.pdf")
            def test_tampered_marked_by_glob(tmp_path):
                leave(tmp_path, "good.pdf", "bad.pdf")


            @pytest.mark.tampered("out/other*.pdf")
            def test_tampered_glob_does_not_cover_it(tmp_path):
                leave(tmp_path, "bad.pdf")


            def test_tampered_declared(tmp_path, tampered_files):
                leave(tmp_path, "bad.pdf")
                tampered_files.add(tmp_path / "out" / "bad.pdf")


            def test_no_tmp_path():
                pass
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "tests.signed_output", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, errors=2)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_tampered_unmarked*", "*out/bad.pdf: *digest mismatch*"])
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_tampered_glob_does_not_cover_it*"])
    assert "good.pdf:" not in result.stdout.str()


# --- processes --------------------------------------------------------------------------------------------------


def test_leftovers_are_found_after_they_were_reparented() -> None:
    token = os.environ["DPA_TEST_SESSION"]
    before = {p.pid for p in processes_with(token)}  # e.g. the session's dpa tsa serve
    shell = subprocess.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True)
    orphan = int(shell.stdout)  # its parent, the shell, has exited: init (or a subreaper) owns it now
    try:
        found = [p for p in processes_with(token) if p.pid not in before]
        assert [(p.pid, p.command) for p in found] == [(orphan, "sleep 60")]
    finally:
        os.kill(orphan, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while orphan in {p.pid for p in processes_with(token)} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert orphan not in {p.pid for p in processes_with(token)}


def test_the_session_fails_when_a_process_outlives_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inner session (its own process, so its own token) that leaves a process running fails at the end."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    monkeypatch.setenv("DPA_TEST_LEFTOVER_GRACE_S", "0.5")
    pytester.makepyfile(
        """
        import subprocess

        def test_forgets_its_child():
            subprocess.Popen(["sleep", "60"])
        """
    )
    result = pytester.runpytest_subprocess("-p", "tests.leftovers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*processes started by the test session outlived it (now killed):*", "*sleep 60*"])


def _owner(script: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """Start ``script`` as an owner process; it prints one JSON line of the pids it started, then waits."""
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert owner.stdout is not None
    ready, _, _ = select.select([owner.stdout], [], [], 120)
    assert ready, "the owner process did not start in time"
    return owner, json.loads(owner.stdout.readline())


def _gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    """The pids of ``pids`` still alive (not zombies) after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _kill_owner(owner: subprocess.Popen[str]) -> None:
    owner.kill()
    owner.wait()
    assert owner.stdout is not None
    owner.stdout.close()


def test_the_verification_worker_dies_with_its_owner(dev_pki: DevPki) -> None:
    owner, pids = _owner(
        f"""
        import json, time
        from pathlib import Path
        from dpa.config import load_config
        from dpa.verify.verifier import Verifier
        verifier = Verifier(load_config(Path({str(dev_pki.config_path)!r})))
        print(json.dumps({{"worker": verifier._worker.process.pid}}), flush=True)
        time.sleep(120)
        """
    )
    assert _gone([pids["worker"]], timeout=0.5) == [pids["worker"]], "the worker runs while its owner does"
    _kill_owner(owner)
    assert _gone([pids["worker"]]) == [], "the worker outlived its owner"


@pytest.mark.libreoffice
def test_libreoffice_dies_with_its_owner() -> None:
    owner, pids = _owner(
        """
        import json, time
        from dpa.assembly.convert import Converter
        converter = Converter(1)
        converter.start()  # from a short-lived thread, as the pool does
        (worker,) = converter._workers
        print(json.dumps({"bridge": worker.process.pid, "soffice": converter.soffice_pids()[0]}), flush=True)
        time.sleep(120)
        """
    )
    both = [pids["bridge"], pids["soffice"]]
    assert _gone(both, timeout=0.5) == both, "LibreOffice runs while its owner does"
    _kill_owner(owner)
    assert _gone(both) == [], "LibreOffice outlived its owner"


def test_dpa_tsa_serve_dies_with_its_owner(dev_pki: DevPki) -> None:
    owner, pids = _owner(
        f"""
        import json, time
        from pathlib import Path
        from tests.signing_support import start_tsa
        tsa = start_tsa(Path({str(dev_pki.config_path)!r}), {{}})
        print(json.dumps({{"tsa": tsa.process.pid}}), flush=True)
        time.sleep(120)
        """,
        env=dict(dev_pki.secrets),
    )
    assert _gone([pids["tsa"]], timeout=0.5) == [pids["tsa"]], "the TSA runs while its owner does"
    _kill_owner(owner)
    assert _gone([pids["tsa"]]) == [], "dpa tsa serve outlived its owner"

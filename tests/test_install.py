"""Installed, not run from the checkout: ``pip install .`` (not editable) into a fresh venv, then ``dpa demo``
from another folder (templates and the legal text come from the package data) and ``python -m dpa --version``.

The install uses the machine's pip configuration and cache, with the versions of this test run's environment as
constraints, so that pip resolves to wheels it already has instead of searching.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest

import dpa
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.libreoffice]

NOT_COPIED = {".venv", ".git", "output", "build", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__"}


def _source_copy(target: Path) -> Path:
    """The repository without virtualenvs, caches and output (setuptools writes build files into the source)."""
    return Path(
        shutil.copytree(
            REPO, target, ignore=lambda folder, names: [n for n in names if n in NOT_COPIED or n.endswith(".egg-info")]
        )
    )


def _constraints(path: Path) -> Path:
    """``name==version`` for every distribution in this environment except dpa itself."""
    pins = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions() if d.metadata["Name"].lower() != "dpa")
    path.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return path


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_pip_install_then_demo_from_another_folder(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    venv = tmp_path / "venv"
    # A venv without pip of its own: this environment's pip installs into it (--python), which saves the
    # ensurepip step; --no-compile leaves byte-compiling to the first import.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    constraints = _constraints(tmp_path / "constraints.txt")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
    install = _run([*pip, "-c", str(constraints), str(source)], cwd=tmp_path, env=env, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(source)  # nothing may still read from a checkout
    version = _run([str(python), "-m", "dpa", "--version"], cwd=elsewhere, env=env, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"dpa, version {dpa.__version__}"

    where = _run([str(python), "-c", "import dpa; print(dpa.__file__)"], cwd=elsewhere, env=env, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(venv), "dpa is imported from the fresh venv"

    demo = _run([str(venv / "bin" / "dpa"), "demo", "-o", str(tmp_path / "demo")], cwd=elsewhere, env=env, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "effective date:" in demo.stdout and "TOTAL_PASSED" in demo.stdout
    assert sorted(p.name for p in (tmp_path / "demo" / "signed").glob("*.pdf")), "the demo left its agreement"
    assert list(elsewhere.iterdir()) == [], "nothing written to the current folder"

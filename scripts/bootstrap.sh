#!/usr/bin/env bash
# Installs what dpa needs on a fresh Debian machine, idempotently:
#   - Debian packages (LibreOffice writer without GUI and its UNO bridge for system python3, fonts, poppler-utils, qpdf, openssl, NSS tools, SoftHSM2)
#   - with DPA_TEST_PACKAGES=1 (make test) also the test-only ones: chromium for the browser tests (Playwright drives
#     Debian's chromium; it never downloads a browser of its own)
#   - .venv with the project installed in editable mode with its development extras
# Called by every Makefile target; cheap when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  libreoffice-writer-nogui
  fonts-liberation fonts-crosextra-carlito fonts-dejavu-core
  python3-uno poppler-utils qpdf openssl libnss3-tools softhsm2
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
)
if [ "${DPA_TEST_PACKAGES:-0}" = "1" ]; then
  DEB_PACKAGES+=(chromium)
fi

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
stamp=.venv/.bootstrap-stamp
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the project into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

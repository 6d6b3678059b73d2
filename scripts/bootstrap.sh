#!/usr/bin/env bash
# Installs what dpa needs on a fresh Debian machine, idempotently:
#   - Debian packages (LibreOffice writer without GUI and its UNO bridge for system python3, fonts, poppler-utils, qpdf, openssl, NSS tools, SoftHSM2)
#   - with --test (make test), also what only the tests need: the customers' signing tools of the interop suite
#     and chromium for the browser tests (Playwright drives Debian's chromium; it never downloads a browser)
#   - .venv with the project installed in editable mode with its development extras
# Called by every Makefile target; cheap when everything is already there.
#
# Usage: scripts/bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST_PACKAGES=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST_PACKAGES=1 ;;
    *) echo "usage: scripts/bootstrap.sh [--test]" >&2; exit 2 ;;
  esac
done

DEB_PACKAGES=(
  libreoffice-writer-nogui
  fonts-liberation fonts-crosextra-carlito fonts-dejavu-core
  python3-uno poppler-utils qpdf openssl libnss3-tools softhsm2
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
)
# Test-only: Java to compile and run the iText 5 and PDFBox 2 signers of tests/interop and their jars (Bouncy Castle
# named explicitly: the Java libraries only "Suggest" it), LibreOffice Draw for LibreOffice's PDF signing, NSS tools
# for the signers' key stores; chromium for the browser tests.
TEST_DEB_PACKAGES=(
  default-jre-headless default-jdk-headless
  libitext5-java libpdfbox2-java libbcprov-java libbcpkix-java libbcutil-java
  libreoffice-draw-nogui libnss3-tools
  chromium
)
if [ "$WITH_TEST_PACKAGES" -eq 1 ]; then
  DEB_PACKAGES+=("${TEST_DEB_PACKAGES[@]}")
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
  # wait for apt's lock rather than fail when another install is running
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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

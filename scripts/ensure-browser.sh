#!/usr/bin/env bash
# Installs Debian's Chromium, the browser test/first-contact/swagger-ui.test.ts drives through
# playwright-core (which never downloads a browser of its own). Like ensure-python-deps.sh:
# nothing to do when it is there; apt-get install when root (or with sudo) when it is not.
set -euo pipefail
BROWSER=/usr/bin/chromium
if [ -x "$BROWSER" ]; then exit 0; fi
echo "installing Debian package: chromium" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "run as root or install: apt-get install chromium" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null
"$BROWSER" --version >&2

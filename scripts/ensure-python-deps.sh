#!/usr/bin/env bash
# Installs the Debian packages the exporter, the trainer and the PyTorch baselines need.
# PyTorch comes from Debian (there is no PyPI here); OpenBLAS replaces the reference BLAS,
# which is about 40x slower.
set -euo pipefail
PY=/usr/bin/python3
packages=(python3-torch python3-onnx python3-numpy python3-pil libopenblas0-pthread python3-skimage python3-jinja2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "run as root or install: apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
$PY -c "import torch, onnx, numpy, PIL" >&2

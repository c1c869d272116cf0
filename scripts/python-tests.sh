#!/usr/bin/env bash
# Runs the Python test suites (exporter, trainer) with Debian's python3, through tools/python (which makes
# toklip_export and toklip_train importable).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-python-deps.sh
suites=()
for d in tools/export/tests tools/train/tests; do
  [ -d "$d" ] && suites+=("$d")
done
[ ${#suites[@]} -eq 0 ] && { echo "no Python test suites"; exit 0; }
for d in "${suites[@]}"; do
  echo "== python tests: $d"
  tools/python -m unittest discover -s "$d" -t . -v
done

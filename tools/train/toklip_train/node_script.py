"""Runs one of tools/train's node scripts (onnxruntime-node, tokenizers.js) on a JSON request."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .networks import REPO_ROOT


def run_node_script(script: Path, request: dict, workdir: Path) -> str:
    """Writes workdir/request.json, runs `node script request.json` from the repository root (for
    its node_modules) and returns its stdout; fails with the script's stderr."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit(f"error: {script.name} needs node (>= 20) and `npm install` (onnxruntime-node)")
    (workdir / "request.json").write_text(json.dumps(request))
    proc = subprocess.run([node, str(script), str(workdir / "request.json")], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} failed:\n{proc.stderr}")
    return proc.stdout

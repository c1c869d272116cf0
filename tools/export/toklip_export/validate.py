"""Checks a written bundle against docs/bundle-format.md and, through Node and
onnxruntime-node, against its golden data. Collects every problem before failing."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Dict, List, Optional

import numpy as np
import onnx

from .convert import sha256_file
from .model_id import MODEL_ID_PATTERN, MODEL_ID_RE
from .tokenizer import REPO_ROOT, EXPORT_DIR, TokenizerError, node_command

PARITY_SCRIPT = os.path.join(EXPORT_DIR, "check_parity.mjs")
CUDA_CHECK_SCRIPT = os.path.join(EXPORT_DIR, "cuda", "check.ts")
REQUIRED = ("format", "format_version", "name", "description", "exporter", "source", "architecture",
            "image_size", "patch_size", "grid", "num_tokens", "codebook", "embedding_dim",
            "preprocessing", "postprocessing", "text", "logit_scale", "score", "dtype",
            "compute_dtype", "io_dtype", "graphs", "files", "golden")
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}
NUMPY_DTYPES = {"float32": np.float32, "int64": np.int64}


class BundleError(ValueError):
    def __init__(self, folder: str, problems: List[str]):
        self.problems = problems
        super().__init__(f"bundle {folder} is invalid:\n  " + "\n  ".join(problems))


def _dims(value_info) -> list:
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_param if d.dim_param else d.dim_value)
    return out


def check_onnx_file(path: str) -> None:
    """onnx.checker plus strict type/shape inference, without touching the file (with a path,
    onnx 1.12's full_check writes the inferred model back over it)."""
    onnx.checker.check_model(path)
    with tempfile.TemporaryDirectory(prefix="toklip-check-") as tmp:
        onnx.shape_inference.infer_shapes_path(path, os.path.join(tmp, "inferred.onnx"),
                                               check_type=True, strict_mode=True)


def _check_graph(folder: str, name: str, entry: dict, problems: List[str]) -> None:
    path = os.path.join(folder, entry.get("file", ""))
    if not os.path.isfile(path):
        problems.append(f"graph {name}: file {entry.get('file')} is missing")
        return
    try:
        check_onnx_file(path)
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 - the checker raises several types
        problems.append(f"graph {name}: onnx.checker: {e}")
        return
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 17:
        problems.append(f"graph {name}: opset {opset} < 17")
    for kind, declared, actual in (("inputs", entry.get("inputs", []), model.graph.input),
                                   ("outputs", entry.get("outputs", []), model.graph.output)):
        real = [{"name": v.name, "dtype": ONNX_DTYPES.get(v.type.tensor_type.elem_type, "other"),
                 "shape": _dims(v)} for v in actual]
        if real != declared:
            problems.append(f"graph {name}: {kind} in the manifest {declared} differ from the graph {real}")
        for v in real:
            if not v["shape"] or v["shape"][0] != "batch":
                problems.append(f"graph {name}: {v['name']} has no dynamic 'batch' first axis")
    locations = {kv.value for t in model.graph.initializer for kv in t.external_data if kv.key == "location"}
    if sorted(locations) != sorted(entry.get("external_data", [])):
        problems.append(f"graph {name}: external data files {sorted(locations)} but the manifest lists "
                        f"{entry.get('external_data')}")


def _check_golden(folder: str, problems: List[str]) -> None:
    gpath = os.path.join(folder, "golden", "manifest.json")
    if not os.path.isfile(gpath):
        problems.append("golden/manifest.json is missing")
        return
    with open(gpath) as f:
        golden = json.load(f)
    for name, a in golden.get("arrays", {}).items():
        p = os.path.join(folder, "golden", a["file"])
        expected = int(np.prod(a["shape"])) * np.dtype(NUMPY_DTYPES[a["dtype"]]).itemsize
        if not os.path.isfile(p) or os.path.getsize(p) != expected:
            problems.append(f"golden array {name}: {a['file']} missing or not {expected} bytes")
    for img in golden.get("images", []):
        if not os.path.isfile(os.path.join(folder, "golden", img)):
            problems.append(f"golden image {img} is missing")


def check_bundle(folder: str) -> dict:
    """Structure, files, hashes and graph signatures. Returns the manifest; raises BundleError."""
    problems: List[str] = []
    mpath = os.path.join(folder, "manifest.json")
    try:
        with open(mpath) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise BundleError(folder, [f"manifest.json: {e}"]) from e
    problems += [f"manifest lacks '{k}'" for k in REQUIRED if k not in manifest]
    if manifest.get("format") != "toklip-bundle" or manifest.get("format_version") != 1:
        problems.append("format must be toklip-bundle version 1")
    if not MODEL_ID_RE.match(str(manifest.get("name", ""))):
        problems.append(f"name {manifest.get('name')!r} does not match {MODEL_ID_PATTERN}")
    grid = manifest.get("grid", [0, 0])
    if grid[0] * grid[1] != manifest.get("num_tokens") or grid[0] * manifest.get("patch_size", 0) != manifest.get("image_size"):
        problems.append("grid, num_tokens, patch_size and image_size disagree")
    graphs: Dict[str, dict] = manifest.get("graphs", {})
    required_graphs = {"vq_encoder", "semantic_encoder", "vq_decoder"} | ({"text_encoder"} if manifest.get("text") else set())
    if set(graphs) != required_graphs:
        problems.append(f"graphs {sorted(graphs)}, expected {sorted(required_graphs)}")
    for name, entry in graphs.items():
        _check_graph(folder, name, entry, problems)
    files = manifest.get("files", {})
    on_disk = set()
    for root, _, names in os.walk(folder):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), folder).replace(os.sep, "/")
            if rel != "manifest.json":
                on_disk.add(rel)
    if set(files) != on_disk:
        problems.append(f"files listed {sorted(set(files) - on_disk)} are missing; files not listed: "
                        f"{sorted(on_disk - set(files))}")
    for rel, entry in files.items():
        p = os.path.join(folder, rel)
        if os.path.isfile(p) and (os.path.getsize(p) != entry.get("size") or sha256_file(p) != entry.get("sha256")):
            problems.append(f"{rel}: size or sha256 differs from the manifest")
    text = manifest.get("text")
    if text and text.get("tokenizer") and not os.path.isfile(os.path.join(folder, text["tokenizer"])):
        problems.append(f"text.tokenizer {text['tokenizer']} is missing")
    if manifest.get("golden"):
        _check_golden(folder, problems)
    if problems:
        raise BundleError(folder, problems)
    return manifest


def parity_report(folder: str, timeout: Optional[float] = None) -> dict:
    """Runs tools/export/check_parity.mjs (onnxruntime-node) on the bundle's golden data and
    returns its JSON report (checks that failed included); raises BundleError if it cannot run."""
    try:
        cmd = node_command()
    except TokenizerError as e:
        raise BundleError(folder, [f"parity check cannot run: {e}"]) from e
    if not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "onnxruntime-node")):
        raise BundleError(folder, [f"parity check cannot run: {REPO_ROOT}/node_modules/onnxruntime-node "
                                   "is missing (run `npm install`)"])
    proc = subprocess.run(cmd + [PARITY_SCRIPT, "--json", os.path.abspath(folder)], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=timeout)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise BundleError(folder, [f"parity check crashed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"])
    report["exit_code"] = proc.returncode
    return report


def check_parity(folder: str, timeout: Optional[float] = None) -> dict:
    """parity_report, raising BundleError when a check fails."""
    report = parity_report(folder, timeout)
    failed = [f"{c['graph']}.{c['array']}: {c['metric']} {c['value']:.4g} (limit {c['limit']:.4g})"
              for c in report["checks"] if not c["ok"]]
    if failed or report["exit_code"] != 0:
        raise BundleError(folder, failed or [f"parity check exited with {report['exit_code']}"])
    return report


def cuda_coverage_report(folder: str, timeout: Optional[float] = None) -> dict:
    """Runs the CUDA coverage check (tools/export/cuda/check.ts, in Node: it needs onnxruntime-node's
    level-1 optimizer, which a CUDA session applies before it places nodes) on the bundle and
    returns its report: {"table": kernel table source, "ok", "graphs": [{graph, nodes, cudaNodes,
    cpuNodes, transfers, failures}]}. Raises BundleError if the check cannot run."""
    try:
        cmd = node_command()
    except TokenizerError as e:
        raise BundleError(folder, [f"CUDA coverage check cannot run: {e}"]) from e
    for package in ("onnxruntime-node", "tsx", "protobufjs"):
        if not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", package)):
            raise BundleError(folder, [f"CUDA coverage check cannot run: {REPO_ROOT}/node_modules/{package} "
                                       "is missing (run `npm install`)"])
    proc = subprocess.run(cmd + ["--import", "tsx", CUDA_CHECK_SCRIPT, "--json", os.path.abspath(folder)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise BundleError(folder, [f"CUDA coverage check crashed (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()[-2000:]}"])
    report = dict(result["reports"][0])
    report["table"] = result["table"]
    return report


def check_cuda_coverage(folder: str, timeout: Optional[float] = None) -> dict:
    """cuda_coverage_report, raising BundleError with every failure (a node without a CUDA
    kernel, CPU work that is not shape arithmetic, data crossing between CPU and GPU nodes)."""
    report = cuda_coverage_report(folder, timeout)
    failures = [f"CUDA coverage, {g['graph']}: {f}" for g in report["graphs"] for f in g["failures"]]
    if failures or not report["ok"]:
        raise BundleError(folder, failures or ["CUDA coverage check failed"])
    return report

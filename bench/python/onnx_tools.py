#!/usr/bin/env python3
"""ONNX graph helpers for the benchmarks (python3-onnx; there is no Python onnxruntime here).

    onnx_tools.py flops GRAPH --dim batch=1 --dim tokens=256    FLOPs of MatMul/Gemm/Conv per op type (JSON)
    onnx_tools.py matmul OUT                                    one-node MatMul graph A[M,K] x B[K,N] (GEMM peak)
    onnx_tools.py matmul-chain OUT --k K --depth D              X[M,K] through D MatMuls with constant [K,K]
                                                                weights, as in the networks (GEMM peak)
    onnx_tools.py fuse BUNDLE OUT                               vq_encoder + semantic_encoder: pixels -> embedding
    onnx_tools.py token-mlp BUNDLE OUT                          semantic_encoder with codebook gather + token MLP
                                                                instead of the precomputed table (random MLP weights)

FLOPs = 2 x multiply-accumulates of every MatMul, Gemm and Conv node (the spec's convention:
norms, activations and softmax excluded), with the shapes that the graph has for the given
input dimensions. onnx's own shape inference cannot see through the Shape -> Gather -> Slice
chains that torch.onnx.export emits for dynamic axes, so small constant subgraphs are folded
first (numpy) until every shape is static.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

# Ops evaluated with numpy when every input is a known constant (shape arithmetic only).
FOLDABLE = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Add", "Sub", "Mul", "Div",
            "Cast", "Range", "Equal", "Where", "ConstantOfShape", "Reshape", "Expand", "Sqrt", "Neg",
            "Floor", "Ceil", "Identity", "ReduceProd", "Less", "Greater", "Not", "Max", "Min", "Mod", "Transpose"}
SMALL = 1 << 16  # elements: only fold small (shape-like) tensors


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _axes(node, inputs, index=1):
    if len(inputs) > index and inputs[index] is not None:
        return [int(x) for x in inputs[index].reshape(-1)]
    value = _attr(node, "axes")
    return None if value is None else [int(x) for x in value]


def _eval(node: onnx.NodeProto, x: List[Optional[np.ndarray]], shapes: Dict[str, list]) -> Optional[np.ndarray]:
    op = node.op_type
    if op == "Shape":
        shape = shapes.get(node.input[0])
        if shape is None or any(not isinstance(d, int) or d <= 0 for d in shape):
            return None
        return np.array(shape, dtype=np.int64)
    required = x[:3] if op == "Slice" else x  # Slice's axes and steps are optional
    if not x or any(v is None for v in required):
        return None
    if op == "Gather":
        return np.take(x[0], x[1], axis=_attr(node, "axis", 0))
    if op == "Unsqueeze":
        out = x[0]
        for a in sorted(_axes(node, x) or []):
            out = np.expand_dims(out, a if a >= 0 else a + out.ndim + 1)
        return out
    if op == "Squeeze":
        axes = _axes(node, x)
        return np.squeeze(x[0], axis=tuple(axes) if axes else None)
    if op == "Concat":
        return np.concatenate(x, axis=_attr(node, "axis"))
    if op == "Slice":
        starts, ends = x[1].tolist(), x[2].tolist()
        axes = x[3].tolist() if len(x) > 3 and x[3] is not None else list(range(len(starts)))
        steps = x[4].tolist() if len(x) > 4 and x[4] is not None else [1] * len(starts)
        index = [slice(None)] * x[0].ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            index[a] = slice(s, e, st)
        return x[0][tuple(index)]
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal, "Less": np.less,
              "Greater": np.greater, "Max": np.maximum, "Min": np.minimum, "Mod": np.mod}
    if op in binary:
        return binary[op](x[0], x[1])
    if op == "Div":
        return (x[0] // x[1]) if np.issubdtype(x[0].dtype, np.integer) else x[0] / x[1]
    if op == "Cast":
        return x[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[_attr(node, "to")])
    if op == "Range":
        return np.arange(x[0], x[1], x[2])
    if op == "Where":
        return np.where(x[0], x[1], x[2])
    if op == "ConstantOfShape":
        value = _attr(node, "value")
        fill = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
        return np.full(tuple(x[0].tolist()), fill.reshape(-1)[0], dtype=fill.dtype)
    if op == "Reshape":
        shape = [d if d != 0 else x[0].shape[i] for i, d in enumerate(x[1].tolist())]
        return x[0].reshape(shape)
    if op == "Transpose":
        perm = _attr(node, "perm")
        return np.transpose(x[0], perm)
    if op == "Expand":
        return x[0] * np.ones(tuple(x[1].tolist()), dtype=x[0].dtype)
    unary = {"Sqrt": np.sqrt, "Neg": np.negative, "Floor": np.floor, "Ceil": np.ceil, "Identity": lambda v: v,
             "Not": np.logical_not}
    if op in unary:
        return unary[op](x[0])
    if op == "ReduceProd":
        return np.prod(x[0], axis=None, keepdims=bool(_attr(node, "keepdims", 1))).reshape(
            [1] * x[0].ndim if _attr(node, "keepdims", 1) else [])
    return None


def _shape_map(model: onnx.ModelProto) -> Dict[str, list]:
    shapes: Dict[str, list] = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def static_shapes(model: onnx.ModelProto, dims: Dict[str, int]) -> Dict[str, list]:
    """Fixes the named input/output dimensions, folds the shape arithmetic, returns every
    value's shape (None for unknown dimensions)."""
    for vi in list(model.graph.input) + list(model.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param in dims:
                d.dim_value = dims[d.dim_param]
    constants: Dict[str, np.ndarray] = {}
    for init in model.graph.initializer:
        if np.prod(init.dims) <= SMALL and not init.external_data:
            constants[init.name] = numpy_helper.to_array(init)
    for _ in range(1000):  # each pass resolves at least one more layer
        model = shape_inference.infer_shapes(model)
        shapes = _shape_map(model)
        changed = False
        nodes = []
        for node in model.graph.node:
            if node.op_type == "Constant":
                value = _attr(node, "value")
                if value is not None and node.output[0] not in constants:
                    constants[node.output[0]] = numpy_helper.to_array(value)
                nodes.append(node)
                continue
            if node.op_type in FOLDABLE and all(o not in constants for o in node.output):
                inputs = [constants.get(i) if i else None for i in node.input]
                try:
                    value = _eval(node, inputs, shapes)
                except Exception:  # noqa: BLE001 - an op we cannot fold stays as it is
                    value = None
                if value is not None and np.size(value) <= SMALL:
                    value = np.asarray(value)
                    constants[node.output[0]] = value
                    nodes.append(helper.make_node("Constant", [], [node.output[0]],
                                                  value=numpy_helper.from_array(value, node.output[0])))
                    changed = True
                    continue
            nodes.append(node)
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        if not changed:
            return shapes
    return _shape_map(shape_inference.infer_shapes(model))


def strip_weights(model: onnx.ModelProto) -> None:
    """Turns every large initializer into a graph input of the same type and shape, so that
    shape inference (which serialises the model) handles kilobytes instead of gigabytes."""
    keep, moved = [], []
    for init in model.graph.initializer:
        if np.prod(init.dims) <= SMALL and not init.external_data:
            keep.append(init)
        else:
            moved.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    model.graph.input.extend(moved)


def count_flops(path: str, dims: Dict[str, int]) -> dict:
    model = onnx.load(path, load_external_data=False)
    strip_weights(model)
    nodes = [(n.op_type, list(n.input), list(n.output), n) for n in model.graph.node]
    shapes = static_shapes(model, dims)
    by_op: Dict[str, float] = {}
    count: Dict[str, int] = {}
    unresolved: List[str] = []
    for op, inputs, outputs, node in nodes:
        if op not in ("MatMul", "Gemm", "Conv"):
            continue
        a, b, y = shapes.get(inputs[0]), shapes.get(inputs[1]), shapes.get(outputs[0])
        if not a or not b or not y or None in a + b + y:
            unresolved.append(node.name or outputs[0])
            continue
        if op == "MatMul":
            macs = int(np.prod(y)) * a[-1]
        elif op == "Gemm":
            k = a[0] if _attr(node, "transA", 0) else a[1]
            macs = int(np.prod(y)) * k
        else:
            macs = int(np.prod(y)) * (b[1] * int(np.prod(b[2:])))  # weight dim 1 is C_in / group
        by_op[op] = by_op.get(op, 0) + 2 * macs
        count[op] = count.get(op, 0) + 1
    return {"graph": os.path.basename(path), "dims": dims, "flops": sum(by_op.values()), "by_op": by_op,
            "nodes": count, "unresolved": unresolved}


def make_matmul(out: str) -> None:
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", "K"])
    b = helper.make_tensor_value_info("B", TensorProto.FLOAT, ["K", "N"])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", "N"])
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["Y"])], "matmul", [a, b], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


def make_matmul_chain(out: str, k: int, depth: int) -> None:
    """X[M,K] -> MatMul W1 -> ... -> MatMul WD: constant weights (pre-packed by ONNX Runtime, as
    the networks' weights are), scaled by sqrt(3/K) so that the activations keep their size."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(((rng.random((k, k), dtype=np.float32) - 0.5) * 2 * np.sqrt(3.0 / k)).astype(np.float32),
                                       f"W{i}") for i in range(depth)]
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["M", k])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", k])
    names = ["X"] + [f"H{i}" for i in range(1, depth)] + ["Y"]
    nodes = [helper.make_node("MatMul", [names[i], f"W{i}"], [names[i + 1]]) for i in range(depth)]
    graph = helper.make_graph(nodes, "matmul_chain", [x], [y], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


def _load(path: str) -> onnx.ModelProto:
    return onnx.load(path, load_external_data=True)


def fuse(bundle: str, out: str) -> None:
    """pixels -> ids -> (features, embedding) as one graph; ids stays an output too."""
    enc = _load(os.path.join(bundle, "vq_encoder.onnx"))
    sem = _load(os.path.join(bundle, "semantic_encoder.onnx"))
    if enc.ir_version != sem.ir_version:
        sem.ir_version = enc.ir_version
    fused = onnx.compose.merge_models(enc, sem, io_map=[("ids", "ids")], prefix2="sem/",
                                      outputs=["ids", "sem/features", "sem/embedding"])
    for name in ("features", "embedding"):  # the bundle's output names again
        for node in fused.graph.node:
            node.input[:] = [name if i == "sem/" + name else i for i in node.input]
            node.output[:] = [name if o == "sem/" + name else o for o in node.output]
        for value in fused.graph.output:
            if value.name == "sem/" + name:
                value.name = name
    fused.graph.name = "vq_encoder+semantic_encoder"
    _save(fused, out)


def token_mlp(bundle: str, out: str, seed: int = 0) -> None:
    """Replaces the table Gather of semantic_encoder by Gather(codebook) -> Linear -> erf GELU ->
    Linear with seeded random weights of the bundle's widths (timing only)."""
    manifest = json.load(open(os.path.join(bundle, "manifest.json")))
    if manifest.get("semantic_encoder_input", "table") != "table":
        raise SystemExit(f"{bundle}: semantic_encoder already uses the token MLP")
    model = _load(os.path.join(bundle, "semantic_encoder.onnx"))
    g = model.graph
    first = next(n for n in g.node if n.op_type == "Gather" and "ids" in n.input)
    table = next(t for t in g.initializer if t.name == first.input[0])
    codes, width = table.dims
    dim = manifest["codebook"]["dim"]
    hidden = manifest["architecture"]["vision"]["token_mlp_hidden"]
    rng = np.random.default_rng(seed)
    arrays = {
        "tokmlp.codebook": rng.standard_normal((codes, dim)).astype(np.float32),
        "tokmlp.w1": (rng.standard_normal((dim, hidden)) * 0.02).astype(np.float32),
        "tokmlp.b1": np.zeros(hidden, np.float32),
        "tokmlp.w2": (rng.standard_normal((hidden, width)) * 0.02).astype(np.float32),
        "tokmlp.b2": np.zeros(width, np.float32),
        "tokmlp.sqrt2": np.array(np.sqrt(2.0), np.float32),
        "tokmlp.one": np.array(1.0, np.float32),
        "tokmlp.half": np.array(0.5, np.float32),
    }
    out_name = first.output[0]
    new = [
        helper.make_node("Gather", ["tokmlp.codebook", "ids"], ["tokmlp/q"]),
        helper.make_node("MatMul", ["tokmlp/q", "tokmlp.w1"], ["tokmlp/h0"]),
        helper.make_node("Add", ["tokmlp/h0", "tokmlp.b1"], ["tokmlp/h"]),
        helper.make_node("Div", ["tokmlp/h", "tokmlp.sqrt2"], ["tokmlp/hs"]),
        helper.make_node("Erf", ["tokmlp/hs"], ["tokmlp/e"]),
        helper.make_node("Add", ["tokmlp/e", "tokmlp.one"], ["tokmlp/e1"]),
        helper.make_node("Mul", ["tokmlp/h", "tokmlp/e1"], ["tokmlp/g0"]),
        helper.make_node("Mul", ["tokmlp/g0", "tokmlp.half"], ["tokmlp/g"]),
        helper.make_node("MatMul", ["tokmlp/g", "tokmlp.w2"], ["tokmlp/y0"]),
        helper.make_node("Add", ["tokmlp/y0", "tokmlp.b2"], [out_name]),
    ]
    index = list(g.node).index(first)
    nodes = list(g.node[:index]) + new + list(g.node[index + 1:])
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.remove(table)
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in arrays.items())
    _save(model, out)


def _save(model: onnx.ModelProto, out: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    if size > 1_800_000_000:
        onnx.save_model(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(out) + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("flops")
    f.add_argument("graph", nargs="+")
    f.add_argument("--dim", action="append", default=[], help="name=value for a dynamic axis")
    m = sub.add_parser("matmul")
    m.add_argument("out")
    c = sub.add_parser("matmul-chain")
    c.add_argument("out")
    c.add_argument("--k", type=int, required=True)
    c.add_argument("--depth", type=int, required=True)
    for name in ("fuse", "token-mlp"):
        s = sub.add_parser(name)
        s.add_argument("bundle")
        s.add_argument("out")
    args = p.parse_args(argv)
    if args.command == "flops":
        dims = {k: int(v) for k, v in (d.split("=", 1) for d in args.dim)}
        json.dump([count_flops(g, dims) for g in args.graph], sys.stdout)
        print()
    elif args.command == "matmul":
        make_matmul(args.out)
    elif args.command == "matmul-chain":
        make_matmul_chain(args.out, args.k, args.depth)
    elif args.command == "fuse":
        fuse(args.bundle, args.out)
    else:
        token_mlp(args.bundle, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

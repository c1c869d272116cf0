"""float32 ONNX graph -> float16 weights and compute, keeping float32 graph inputs/outputs.

Written here because onnxconverter-common is not available. The rules:
  * float initializers and Constant/ConstantOfShape values become float16 (values outside the
    float16 range are clamped to +-65504 and counted);
  * Cast(to=float) becomes Cast(to=float16);
  * tensors that an operator requires in float32 (Resize roi/scales) stay float32;
  * each float32 graph input gets a Cast to float16 in front of its consumers, and each float
    graph output is produced in float16 and cast back to float32 under its original name.
Parts that must stay float32 (the VQ quantiser) are exported as separate graphs and merged
after conversion (onnx_export.merge_sequential).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Set

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FP16_MAX = float(np.finfo(np.float16).max)
FLOAT, FLOAT16 = TensorProto.FLOAT, TensorProto.FLOAT16
# (op_type, input index) pairs whose tensor type is fixed to float32 by the ONNX spec.
FLOAT32_ONLY_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


@dataclass
class Float16Report:
    initializers: int = 0
    constants: int = 0
    casts: int = 0
    clamped_values: int = 0


def _to_fp16(array: np.ndarray, report: Float16Report) -> np.ndarray:
    """float32 -> float16, clamping finite values beyond +-65504 (no full-size temporaries
    besides a boolean mask: the text embedding alone is 1.2 GB)."""
    over = int(np.count_nonzero(array > FP16_MAX)) + int(np.count_nonzero(array < -FP16_MAX))
    if over:
        report.clamped_values += over - int(np.count_nonzero(np.isinf(array)))
        array = np.where(np.isinf(array), array, np.clip(array, -FP16_MAX, FP16_MAX))
    return array.astype(np.float16)


def _convert_tensor(t: TensorProto, report: Float16Report) -> TensorProto:
    return numpy_helper.from_array(_to_fp16(numpy_helper.to_array(t), report), t.name)


def convert_float16(model: onnx.ModelProto) -> Float16Report:
    """Converts `model` in place; returns what was changed."""
    g = model.graph
    report = Float16Report()
    keep32: Set[str] = set()
    for node in g.node:
        for i, name in enumerate(node.input):
            if (node.op_type, i) in FLOAT32_ONLY_INPUTS and name:
                keep32.add(name)

    for i, init in enumerate(g.initializer):
        if init.data_type == FLOAT and init.name not in keep32:
            g.initializer[i].CopyFrom(_convert_tensor(init, report))
            report.initializers += 1

    for node in g.node:
        out32 = any(o in keep32 for o in node.output)
        if node.op_type == "Constant" and not out32:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == FLOAT:
                    attr.t.CopyFrom(_convert_tensor(attr.t, report))
                    report.constants += 1
                elif attr.name in ("value_float", "value_floats"):
                    raise NotImplementedError(f"Constant {node.name} uses {attr.name}")
        elif node.op_type == "ConstantOfShape" and not out32:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == FLOAT:
                    attr.t.CopyFrom(_convert_tensor(attr.t, report))
                    report.constants += 1
        elif node.op_type == "Cast" and not out32:
            for attr in node.attribute:
                if attr.name == "to" and attr.i == FLOAT:
                    attr.i = FLOAT16
                    report.casts += 1

    new_nodes = []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != FLOAT:
            continue
        half = inp.name + "_fp16"
        for node in g.node:
            node.input[:] = [half if x == inp.name else x for x in node.input]
        new_nodes.append(helper.make_node("Cast", [inp.name], [half], name=f"{inp.name}_to_fp16", to=FLOAT16))
    tail = []
    for out in g.output:
        if out.type.tensor_type.elem_type != FLOAT:
            continue
        half = out.name + "_fp16"
        for node in g.node:
            node.output[:] = [half if x == out.name else x for x in node.output]
            node.input[:] = [half if x == out.name else x for x in node.input]
        tail.append(helper.make_node("Cast", [half], [out.name], name=f"{out.name}_to_fp32", to=FLOAT))
    nodes = new_nodes + list(g.node) + tail
    del g.node[:]
    g.node.extend(nodes)
    # Intermediate type annotations are stale now; runtimes infer them again.
    del g.value_info[:]
    return report

// Reads the structure of an ONNX model (opsets, nodes, graph inputs/outputs, initializer types and
// dims) with protobufjs. Only the fields the CUDA coverage check needs are declared; every other
// field, tensor data included, is skipped while decoding, so large graphs cost one file read.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

/** TensorProto.DataType names, as the kernel table spells them. */
export const ELEMENT_TYPES: Record<number, string> = {
  1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'double', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128',
  16: 'bfloat16', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz',
  21: 'uint4', 22: 'int4', 23: 'float4e2m1',
};

export const ELEMENT_BYTES: Record<string, number> = {
  float: 4, uint8: 1, int8: 1, uint16: 2, int16: 2, int32: 4, int64: 8, bool: 1, float16: 2, double: 8,
  uint32: 4, uint64: 8, bfloat16: 2, float8e4m3fn: 1, float8e4m3fnuz: 1, float8e5m2: 1, float8e5m2fnuz: 1,
};

export interface TensorInfo {
  name: string;
  elementType: string;
  /** Dimension values, or the symbolic name of a dynamic dimension ("batch"). */
  dims: (number | string)[];
}

export interface Attribute {
  name: string;
  i?: number;
  ints?: number[];
  s?: string;
  /** Element type and dims of a tensor attribute (Constant's value, ConstantOfShape's value). */
  tensor?: { elementType: string; dims: number[] };
  /** The attribute holds a subgraph (If, Loop, Scan). */
  graph: boolean;
}

export interface OnnxNode {
  name: string;
  opType: string;
  /** "ai.onnx" for the default domain. */
  domain: string;
  /** Input names; "" marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Attribute>;
}

export interface OnnxModel {
  /** domain -> opset version. */
  opsets: Map<string, number>;
  nodes: OnnxNode[];
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Graph value_info: element types of intermediate tensors where the file records them. */
  valueInfo: Map<string, TensorInfo>;
  initializers: Map<string, { elementType: string; dims: number[] }>;
}

// Field numbers and types of onnx.proto (ONNX IR version 10) for the messages read here.
const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: { opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 }, graph: { type: 'GraphProto', id: 7 } },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphStub', id: 6 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            graphs: { rule: 'repeated', type: 'GraphStub', id: 11 },
          },
        },
        // Subgraphs are noted, not read: no node of the checked graphs may hold one.
        GraphStub: { fields: {} },
        TensorProto: {
          fields: { dims: { rule: 'repeated', type: 'int64', id: 1 }, dataType: { type: 'int32', id: 2 }, name: { type: 'string', id: 8 } },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        TypeProto: { fields: { tensorType: { type: 'TensorTypeProto', id: 1 } } },
        TensorTypeProto: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
      },
    },
  },
});
const ModelProto = root.lookupType('onnx.ModelProto');

interface RawValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number; dimParam?: string }[] } } };
}
interface RawTensor {
  name?: string;
  dataType?: number;
  dims?: number[];
}
interface RawAttribute {
  name: string;
  i?: number;
  s?: Uint8Array;
  t?: RawTensor;
  g?: object;
  ints?: number[];
  graphs?: object[];
}
interface RawNode {
  input?: string[];
  output?: string[];
  name?: string;
  opType: string;
  attribute?: RawAttribute[];
  domain?: string;
}
interface RawModel {
  opsetImport?: { domain?: string; version?: number }[];
  graph?: { node?: RawNode[]; initializer?: RawTensor[]; input?: RawValueInfo[]; output?: RawValueInfo[]; valueInfo?: RawValueInfo[] };
}

function elementType(code: number | undefined): string {
  return ELEMENT_TYPES[code ?? 0] ?? `type${code ?? 0}`;
}

function tensorInfo(v: RawValueInfo): TensorInfo {
  const t = v.type?.tensorType;
  return {
    name: v.name,
    elementType: elementType(t?.elemType),
    dims: (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0))),
  };
}

function tensorType(t: RawTensor): { elementType: string; dims: number[] } {
  return { elementType: elementType(t.dataType), dims: (t.dims ?? []).map(Number) };
}

export function domainName(domain: string | undefined): string {
  return !domain || domain === 'ai.onnx' ? 'ai.onnx' : domain;
}

export function decodeModel(bytes: Uint8Array): OnnxModel {
  const raw = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false, arrays: true }) as RawModel;
  const graph = raw.graph ?? {};
  const nodes = (graph.node ?? []).map((n, index): OnnxNode => ({
    name: n.name || `${n.opType}_${index}`,
    opType: n.opType,
    domain: domainName(n.domain),
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attributes: new Map((n.attribute ?? []).map((a): [string, Attribute] => [a.name, {
      name: a.name,
      ...(a.i !== undefined ? { i: Number(a.i) } : {}),
      ...(a.ints && a.ints.length > 0 ? { ints: a.ints.map(Number) } : {}),
      ...(a.s !== undefined ? { s: Buffer.from(a.s).toString('utf8') } : {}),
      ...(a.t ? { tensor: tensorType(a.t) } : {}),
      graph: a.g !== undefined || (a.graphs?.length ?? 0) > 0,
    }])),
  }));
  return {
    opsets: new Map((raw.opsetImport ?? []).map((o) => [domainName(o.domain), Number(o.version ?? 0)])),
    nodes,
    inputs: (graph.input ?? []).map(tensorInfo),
    outputs: (graph.output ?? []).map(tensorInfo),
    valueInfo: new Map((graph.valueInfo ?? []).map((v) => [v.name, tensorInfo(v)])),
    initializers: new Map((graph.initializer ?? []).map((t) => [t.name ?? '', tensorType(t)])),
  };
}

export function readModel(path: string): OnnxModel {
  return decodeModel(readFileSync(path));
}

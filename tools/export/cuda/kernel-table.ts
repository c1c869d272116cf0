// The CUDA kernel table of ONNX Runtime as data: which op, in which opset versions, with which
// element types has a CUDA kernel. Generated from onnxruntime's docs/OperatorKernels.md (the
// table its build writes from the registered kernels) by kernel-table-gen.ts; read here.
import { readFileSync } from 'node:fs';

/** One version range of an op's kernels: opsets since..until (null: open-ended). */
export interface KernelVersion {
  since: number;
  until: number | null;
  /** Type-constraint symbol (T, T1, ...) -> element types ("float", "float16", "seq(float)", ...). */
  types: Record<string, string[]>;
}

/** The op's parameters: the type symbol of each input and output, e.g. ["T", "tensor(int64)"]. */
export interface KernelSignature {
  inputs: string[];
  outputs: string[];
}

export interface OpKernels {
  /** The documented signature variants (ops whose inputs changed between opsets have several). */
  signatures: KernelSignature[];
  versions: KernelVersion[];
}

export interface KernelTableSource {
  repository: string;
  commit: string;
  commitDate: string;
  path: string;
  versionNumber: string;
  note: string;
}

export interface KernelTable {
  provider: string;
  source: KernelTableSource;
  /** domain ("ai.onnx", "com.microsoft", ...) -> op type -> kernels. */
  domains: Record<string, Record<string, OpKernels>>;
}

export const KERNEL_TABLE_PATH = new URL('./ort-cuda-kernels.json', import.meta.url);

export function readKernelTable(path: URL | string = KERNEL_TABLE_PATH): KernelTable {
  return JSON.parse(readFileSync(path, 'utf8')) as KernelTable;
}

const PROVIDER_HEADING = /^## Operators implemented by (\w+)/;
const DOMAIN_ROW = /^\|\*\*Operator Domain:\*\* \*([\w.]+)\*\|/;

/** "tensor(float)" -> "float"; "seq(tensor(float))" -> "seq(float)". */
export function typeName(doc: string): string {
  const trimmed = doc.trim();
  const seq = /^seq\(tensor\((\w+)\)\)$/.exec(trimmed);
  if (seq) return `seq(${seq[1]})`;
  const tensor = /^tensor\((\w+)\)$/.exec(trimmed);
  if (tensor) return tensor[1]!;
  return trimmed;
}

function parseVersion(cell: string): { since: number; until: number | null } {
  const text = cell.trim();
  let m = /^(\d+)\+$/.exec(text);
  if (m) return { since: Number(m[1]), until: null };
  m = /^\[(\d+), (\d+)\]$/.exec(text);
  if (m) return { since: Number(m[1]), until: Number(m[2]) };
  m = /^(\d+)$/.exec(text);
  if (m) return { since: Number(m[1]), until: Number(m[1]) };
  throw new Error(`unreadable opset version cell: ${JSON.stringify(cell)}`);
}

function parseTypes(cell: string): Record<string, string[]> {
  const types: Record<string, string[]> = {};
  for (const part of cell.split('<br/>')) {
    const m = /^\s*\*\*(\w+)\*\* = (.*)$/.exec(part);
    if (!m) {
      if (part.trim() !== '') throw new Error(`unreadable type cell part: ${JSON.stringify(part)}`);
      continue;
    }
    // "seq(tensor(a)), tensor(b)": split at top-level commas only.
    const list: string[] = [];
    let depth = 0;
    let start = 0;
    const text = m[2]!;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '(') depth++;
      else if (text[i] === ')') depth--;
      else if (text[i] === ',' && depth === 0) {
        list.push(typeName(text.slice(start, i)));
        start = i + 1;
      }
    }
    list.push(typeName(text.slice(start)));
    types[m[1]!] = list;
  }
  return types;
}

function parseSignatures(cell: string): KernelSignature[] {
  return cell.split('<br><br>or<br><br>').map((variant) => {
    const signature: KernelSignature = { inputs: [], outputs: [] };
    for (const part of variant.split('<br>')) {
      const m = /^\s*\*(in|out)\* [^:]*:\*\*([^*]+)\*\*\s*$/.exec(part);
      if (!m) {
        if (part.trim() !== '') throw new Error(`unreadable parameter: ${JSON.stringify(part)}`);
        continue;
      }
      const symbol = m[2]!.startsWith('tensor(') || m[2]!.startsWith('seq(') ? typeName(m[2]!) : m[2]!;
      (m[1] === 'in' ? signature.inputs : signature.outputs).push(symbol);
    }
    return signature;
  });
}

/** Reads the section "Operators implemented by <provider>" of OperatorKernels.md. */
export function parseOperatorKernels(markdown: string, provider: string): KernelTable['domains'] {
  const domains: KernelTable['domains'] = {};
  let inSection = false;
  let domain: string | undefined;
  let current: OpKernels | undefined;
  for (const line of markdown.split('\n')) {
    const heading = PROVIDER_HEADING.exec(line);
    if (heading) {
      inSection = heading[1] === provider;
      continue;
    }
    if (!inSection) continue;
    const domainRow = DOMAIN_ROW.exec(line);
    if (domainRow) {
      domain = domainRow[1]!;
      domains[domain] ??= {};
      current = undefined;
      continue;
    }
    if (!line.startsWith('|') || domain === undefined) continue;
    const cells = line.split('|').slice(1, -1);
    if (cells.length !== 4) continue; // separators and "| |" spacer rows
    const [name, params, version, types] = cells as [string, string, string, string];
    if (name === ' Op Name ' || /^-+$/.test(name)) continue;
    if (name !== '') {
      current = { signatures: parseSignatures(params), versions: [] };
      domains[domain]![name] = current;
    }
    if (!current) throw new Error(`version row before any op: ${line}`);
    current.versions.push({ ...parseVersion(version), types: parseTypes(types) });
  }
  if (Object.keys(domains).length === 0) throw new Error(`no section "Operators implemented by ${provider}"`);
  return domains;
}

// Does a node have a CUDA kernel? The op in its domain, a version range that holds the model's
// opset for that domain, and element types of its inputs and outputs that the range's type
// constraints allow (as onnxruntime's KernelRegistry matches them), plus the attribute cases in
// which onnxruntime's CUDA provider declines a node it has a kernel for.
import type { KernelSignature, KernelTable, KernelVersion, OpKernels } from './kernel-table.js';
import { ELEMENT_TYPES, type OnnxNode } from './onnx-model.js';

const TYPE_NAMES = new Set([...Object.values(ELEMENT_TYPES), ...Object.values(ELEMENT_TYPES).map((t) => `seq(${t})`)]);

export type KernelMatch = { ok: true; version: KernelVersion } | { ok: false; reason: string };

function rangeText(v: KernelVersion): string {
  return v.until === null ? `${v.since}+` : v.since === v.until ? `${v.since}` : `[${v.since}, ${v.until}]`;
}

/** The documented signature that fits the node: most of its symbols constrained by the version. */
function signatureFor(kernels: OpKernels, version: KernelVersion, node: OnnxNode): KernelSignature {
  const score = (s: KernelSignature) => [...s.inputs, ...s.outputs].filter((sym) => sym in version.types).length;
  const fits = kernels.signatures.filter((s) => s.inputs.length >= node.inputs.length && s.outputs.length >= node.outputs.length);
  const candidates = fits.length > 0 ? fits : kernels.signatures;
  return candidates.reduce((best, s) => (score(s) > score(best) ? s : best));
}

/** "" when the element type is allowed for this parameter symbol, else why not. */
function typeProblem(symbol: string, type: string, version: KernelVersion): string {
  if (TYPE_NAMES.has(symbol)) return symbol === type ? '' : `must be ${symbol}`;
  const allowed = version.types[symbol];
  if (allowed === undefined || allowed.includes(type)) return ''; // unconstrained by the kernel
  return `${symbol} allows ${allowed.join(', ')}`;
}

function declined(node: OnnxNode, opset: number): string {
  const attr = (name: string) => node.attributes.get(name);
  if ((node.opType === 'ArgMax' || node.opType === 'ArgMin') && opset >= 12 && (attr('select_last_index')?.i ?? 0) !== 0) {
    return `${node.opType} with select_last_index=1: the CUDA provider hands it to the CPU (cuDNN keeps the first index)`;
  }
  if (node.opType === 'Cast' && attr('to')?.i === 8) return 'Cast to string: the CUDA provider hands it to the CPU';
  if (['LSTM', 'RNN', 'GRU', 'ConvTranspose', 'NhwcConv'].includes(node.opType)) {
    return `${node.opType}: the CUDA provider decides by attributes this check does not model`;
  }
  return '';
}

export function lookupKernel(table: KernelTable, node: OnnxNode, opset: number, types: Map<string, string>): KernelMatch {
  const kernels = table.domains[node.domain]?.[node.opType];
  if (!kernels) return { ok: false, reason: `no CUDA kernel for ${node.domain === 'ai.onnx' ? '' : `${node.domain}.`}${node.opType}` };
  const version = kernels.versions.find((v) => v.since <= opset && (v.until === null || opset <= v.until));
  if (!version) {
    return { ok: false, reason: `no CUDA kernel of ${node.opType} for opset ${opset} (kernels: ${kernels.versions.map(rangeText).join(', ')})` };
  }
  const signature = signatureFor(kernels, version, node);
  const problems: string[] = [];
  const check = (names: string[], symbols: string[], kind: string) =>
    names.forEach((name, i) => {
      if (name === '' || symbols.length === 0) return;
      const symbol = symbols[Math.min(i, symbols.length - 1)]!; // the last parameter may be variadic
      const type = types.get(name) ?? 'unknown';
      const problem = typeProblem(symbol, type, version);
      if (problem) problems.push(`${kind} ${i} (${name}) is ${type}: ${problem}`);
    });
  check(node.inputs, signature.inputs, 'input');
  check(node.outputs, signature.outputs, 'output');
  if (problems.length > 0) {
    return { ok: false, reason: `no CUDA kernel of ${node.opType} opset ${rangeText(version)} for these types: ${problems.join('; ')}` };
  }
  const refusal = declined(node, opset);
  return refusal ? { ok: false, reason: refusal } : { ok: true, version };
}

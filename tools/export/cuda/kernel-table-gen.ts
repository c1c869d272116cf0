// Writes ort-cuda-kernels.json from onnxruntime's docs/OperatorKernels.md (its CUDA section):
//
//   node --import tsx tools/export/cuda/kernel-table-gen.ts OperatorKernels.md \
//     --repository microsoft/onnxruntime --commit <sha> --commit-date <iso> --version-number <VERSION_NUMBER> \
//     [--note "..."] [--out tools/export/cuda/ort-cuda-kernels.json]
//
// The markdown comes from the onnxruntime checkout of the release the service runs
// (git show <tag>:docs/OperatorKernels.md); the source is recorded in the JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { KERNEL_TABLE_PATH, parseOperatorKernels, type KernelTable } from './kernel-table.js';

const PROVIDER = 'CUDAExecutionProvider';

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      repository: { type: 'string' },
      commit: { type: 'string' },
      'commit-date': { type: 'string' },
      'version-number': { type: 'string' },
      note: { type: 'string', default: '' },
      out: { type: 'string', default: fileURLToPath(KERNEL_TABLE_PATH) },
    },
  });
  const [markdownPath] = positionals;
  const required = ['repository', 'commit', 'commit-date', 'version-number'] as const;
  const missing = required.filter((key) => !values[key]);
  if (!markdownPath || missing.length > 0) {
    console.error(`usage: kernel-table-gen.ts OperatorKernels.md ${required.map((k) => `--${k} X`).join(' ')} [--note X] [--out FILE]`);
    process.exit(2);
  }
  const table: KernelTable = {
    provider: PROVIDER,
    source: {
      repository: values.repository!,
      commit: values.commit!,
      commitDate: values['commit-date']!,
      path: 'docs/OperatorKernels.md',
      versionNumber: values['version-number']!,
      note: values.note!,
    },
    domains: parseOperatorKernels(readFileSync(markdownPath, 'utf8'), PROVIDER),
  };
  // One op per line: diffs between two onnxruntime releases stay readable.
  const domains = Object.entries(table.domains).map(([domain, ops]) => {
    const lines = Object.entries(ops).map(([op, kernels]) => `    ${JSON.stringify(op)}: ${JSON.stringify(kernels)}`);
    return `  ${JSON.stringify(domain)}: {\n${lines.join(',\n')}\n  }`;
  });
  const text = `{\n "provider": ${JSON.stringify(table.provider)},\n "source": ${JSON.stringify(table.source)},\n "domains": {\n${domains.join(',\n')}\n }\n}\n`;
  JSON.parse(text); // well-formed
  writeFileSync(values.out!, text);
  const count = Object.values(table.domains).reduce((n, ops) => n + Object.keys(ops).length, 0);
  console.log(`${values.out}: ${count} ops in ${Object.keys(table.domains).length} domains`);
}

main();

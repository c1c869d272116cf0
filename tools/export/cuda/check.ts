// CUDA coverage of model bundles (docs/export.md, "CUDA coverage"):
//
//   node --import tsx tools/export/cuda/check.ts [--json | --markdown cpu-nodes|transfers] [--label NAME] BUNDLE_DIR...
//
// Prints, per graph, the nodes a CUDA session of onnxruntime would run on the CPU (and why) and
// the tensors that cross between host and device on every run; exits 1 when a graph fails
// (a node without a CUDA kernel, CPU work that is not shape arithmetic, data crossing inside the
// graph). --json prints the reports instead (the exporter's validation reads them); --markdown
// prints the rows of a documentation table (docs/export.md, docs/deploy.md), labelled with the
// bundle's name or --label.
import { parseArgs } from 'node:util';
import { checkBundle, type BundleCoverage } from './coverage.js';
import { tableRows, type DocTable } from './doc-tables.js';
import { readKernelTable } from './kernel-table.js';

function summary(report: BundleCoverage): string {
  const lines = [`${report.ok ? 'ok  ' : 'FAIL'} ${report.name} (${report.dtype}) ${report.bundle}`];
  for (const g of report.graphs) {
    const byOp = new Map<string, number>();
    for (const n of g.cpuNodes) byOp.set(n.op, (byOp.get(n.op) ?? 0) + 1);
    const cpu = g.cpuNodes.length === 0 ? 'none' : [...byOp].map(([op, n]) => `${op} x${n}`).join(', ');
    lines.push(`  ${g.graph}: ${g.cudaNodes}/${g.nodes} nodes on CUDA; on the CPU: ${cpu}`);
    for (const t of g.transfers) {
      lines.push(`    ${t.direction} ${t.kind} ${t.tensor} ${t.elementType}[${t.dims.join(', ')}]: ${t.bytesPerItem ?? '?'} bytes per item`);
    }
    for (const f of g.failures) lines.push(`    FAIL ${f}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, markdown: { type: 'string' }, label: { type: 'string' } },
  });
  const markdown = values.markdown as DocTable | undefined;
  if (positionals.length === 0 || (markdown !== undefined && markdown !== 'cpu-nodes' && markdown !== 'transfers')) {
    console.error('usage: node --import tsx tools/export/cuda/check.ts [--json | --markdown cpu-nodes|transfers] [--label NAME] BUNDLE_DIR...');
    process.exit(2);
  }
  const table = readKernelTable();
  const reports: BundleCoverage[] = [];
  for (const dir of positionals) reports.push(await checkBundle(dir, table));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ table: table.source, reports })}\n`);
  } else if (markdown) {
    for (const r of reports) console.log(tableRows(r, markdown, values.label).join('\n'));
  } else {
    console.log(`CUDA kernels: ${table.source.repository} ${table.source.commit.slice(0, 12)} (${table.source.versionNumber})`);
    for (const r of reports) console.log(summary(r));
  }
  process.exit(reports.every((r) => r.ok) ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(2);
});

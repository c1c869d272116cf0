// The two tables the documentation shows from the coverage reports, one row per graph:
// docs/export.md "CPU nodes" (which nodes a CUDA session keeps on the CPU) and docs/deploy.md
// "transfers" (bytes crossing PCIe per item). Rows start with the bundle's label, so that a test
// can compare the rows of the bundles it checked with the document.
import type { BundleCoverage, GraphCoverage, Transfer } from './coverage.js';

export type DocTable = 'cpu-nodes' | 'transfers';

export const TABLE_HEADERS: Record<DocTable, string[]> = {
  'cpu-nodes': ['bundle', 'dtype', 'graph', 'nodes on CUDA', 'nodes on the CPU', 'CPU nodes (all shape arithmetic)'],
  transfers: ['bundle', 'graph', 'host -> device per item', 'device -> host per item'],
};

function cpuOps(g: GraphCoverage): string {
  const byOp = new Map<string, number>();
  for (const n of g.cpuNodes) byOp.set(n.op, (byOp.get(n.op) ?? 0) + 1);
  return byOp.size === 0 ? '-' : [...byOp].sort(([a], [b]) => a.localeCompare(b)).map(([op, n]) => `${op} ${n}`).join(', ');
}

function bytes(n: number): string {
  if (n < 10_000) return `${n} B`;
  if (n < 10_000_000) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

function transferCell(transfers: Transfer[]): string {
  if (transfers.length === 0) return '-';
  return transfers
    .map((t) => `\`${t.tensor}\` ${t.elementType}[${t.dims.join(', ')}] ${t.bytesPerItem === null ? '?' : bytes(t.bytesPerItem)}`)
    .join('; ');
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function tableRows(report: BundleCoverage, table: DocTable, label = report.name): string[] {
  return report.graphs.map((g) => {
    if (table === 'cpu-nodes') {
      return row([label, report.dtype, g.graph, g.cudaNodes, g.cpuNodes.length, cpuOps(g)]);
    }
    return row([
      label,
      g.graph,
      transferCell(g.transfers.filter((t) => t.direction === 'host-to-device')),
      transferCell(g.transfers.filter((t) => t.direction === 'device-to-host')),
    ]);
  });
}

/** The rows of `markdown` whose first cell is `label` (the rows a document holds for a bundle). */
export function documentedRows(markdown: string, label: string): string[] {
  return markdown.split('\n').filter((line) => line.startsWith(`| ${label} |`));
}

/** docs/deploy.md lists every series the service registers itself, with its labels. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createMetrics } from '../../src/metrics.js';

test('docs/deploy.md lists every toklip_* series of src/metrics.ts with its type and labels', async () => {
  const doc = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
  const { registry } = createMetrics({ defaultMetrics: false });
  const series = await registry.getMetricsAsJSON();
  assert.ok(series.length >= 10);
  for (const metric of series) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${metric.name}\` |`));
    assert.ok(row, `${metric.name} is missing from docs/deploy.md`);
    assert.ok(row.includes(`| ${metric.type} |`), `${metric.name}: type ${metric.type}`);
    const labels = (registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] }).labelNames;
    const cell = row.split('|')[3]!.trim();
    assert.equal(cell, labels.length === 0 ? '-' : labels.join(', '), `${metric.name}: labels`);
  }
});

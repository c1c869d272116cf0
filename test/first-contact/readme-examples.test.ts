/**
 * The README example reader and answer-shape checker that npm-start.test.ts relies on: it
 * finds README's examples with their shapes, and a shape accepts what README means and
 * refuses what it does not.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseShape, readmeExamples, shapeErrors } from './readme-examples.js';

const errors = (value: unknown, shape: string) => shapeErrors(value, parseShape(shape).shape!);

describe('README examples', () => {
  it('every curl line of Quick start and API is an example with its shape; continuation lines and assignments are understood', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const examples = readmeExamples(readme);
    const section = (title: string) => readme.slice(readme.indexOf(`## ${title}\n`), readme.indexOf('\n## ', readme.indexOf(`## ${title}\n`) + 1));
    const curlLines = [section('Quick start'), section('API')].flatMap((s) => s.split('\n')).filter((l) => /^ {4}.*\bcurl\s/.test(l));
    assert.equal(examples.length, curlLines.length);
    for (const example of examples) {
      assert.ok(example.shape.length > 0);
      assert.ok(!example.command.includes('# ->'), example.command);
    }
    const assignment = examples.find((e) => e.assigns !== undefined);
    assert.ok(assignment, 'an example keeps ids for later ones');
    assert.ok(examples.some((e) => e.command.includes(`$${assignment.assigns}`)), 'a later example uses them');
  });

  it('refuses a section whose last example has no shape', () => {
    const readme = '## Quick start\n\n    curl -s localhost:8080/readyz\n\n## API\n\n    curl -s localhost:8080/healthz   # -> {"status":"ok"}\n\n## End\n';
    assert.throws(() => readmeExamples(readme), /Quick start.*no "# -> " answer shape/);
  });

  it('a shape holds members, optional members, literals, lists of exact and any length, and prose after it', () => {
    const shape = '{"object":"list","n":3,"ok":true,"grid":[h, w],"tokens":[[ids]],"rows":[{"i"}, ...],"x"?}: prose here';
    assert.equal(parseShape(shape).prose, 'prose here');
    const good = { object: 'list', n: 3, ok: true, grid: [8, 8], tokens: [[1, 2, 3]], rows: [{ i: 0 }, { i: 1 }] };
    assert.deepEqual(errors(good, shape), []);
    assert.deepEqual(errors({ ...good, x: 'anything' }, shape), []);
    assert.deepEqual(errors({ ...good, object: 'embedding' }, shape), ['$.object: "embedding", README says "list"']);
    assert.deepEqual(errors({ ...good, grid: [8] }, shape), ['$.grid: 1 items, README says 2']);
    assert.deepEqual(errors({ ...good, tokens: [[1], [2]] }, shape), ['$.tokens: 2 items, README says 1']);
    assert.deepEqual(errors({ ...good, tokens: [[[1]]] }, shape), ['$.tokens[0][0]: a list, README says a value (ids)']);
    assert.deepEqual(errors({ ...good, rows: [] }, shape), ['$.rows: 0 items, README says at least 1']);
    assert.deepEqual(errors({ ...good, rows: [{ j: 1 }] }, shape), ['$.rows[0]: no member "i"', '$.rows[0]: member "j" is not in README']);
    const { n: _n, ...missing } = good;
    assert.deepEqual(errors({ ...missing, extra: 1 }, shape), ['$: no member "n"', '$: member "extra" is not in README']);
    assert.deepEqual(errors({ a: 1, b: 2 }, '{"a", ...}'), []);
  });

  it('a shape that does not begin with { or [ is prose', () => {
    assert.deepEqual(parseShape('reconstruction.webp: the bare file'), { prose: 'reconstruction.webp: the bare file' });
  });
});

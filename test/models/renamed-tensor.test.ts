/**
 * Tensor names are checked, not assumed: a bundle whose ONNX graph renamed an output (the
 * manifest still names the bundle format's) stops the start with a message naming the file
 * and the tensor, from the real server process.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ChildServer } from '../helpers/child-server.js';
import { FIXTURE_BUNDLES_DIR, TINY_MODEL } from '../helpers/golden.js';

const FATAL = 60;

/** Replaces every occurrence of `from` by `to` (same length) in a binary file: the protobuf's string fields keep their lengths. */
async function renameInGraph(path: string, from: string, to: string): Promise<number> {
  assert.equal(from.length, to.length);
  const bytes = await readFile(path);
  const needle = Buffer.from(from);
  let count = 0;
  for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
    bytes.write(to, at);
    count++;
  }
  await writeFile(path, bytes);
  return count;
}

describe('a graph whose tensor does not match the manifest', () => {
  let dir: string | undefined;
  after(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it('fails the start naming the file and the tensor', async () => {
    dir = await mkdtemp(join(tmpdir(), 'toklip-renamed-'));
    const bundle = join(dir, TINY_MODEL);
    await cp(join(FIXTURE_BUNDLES_DIR, TINY_MODEL), bundle, { recursive: true });
    // text_encoder's output 'embedding' becomes 'embeddinX' inside the graph only.
    assert.ok((await renameInGraph(join(bundle, 'text_encoder.onnx'), 'embedding', 'embeddinX')) > 0);
    const child = ChildServer.launch({ TOKLIP_MODELS_DIR: dir, TOKLIP_VERIFY_CHECKSUMS: 'false' });
    const exit = await child.exited;
    assert.equal(exit.code, 1);
    const fatal = child.records.find((r) => r.level === FATAL);
    assert.match(String(fatal?.msg), /text_encoder\.onnx: no output 'embedding' \(outputs: 'embeddinX'\)/);
  });
});

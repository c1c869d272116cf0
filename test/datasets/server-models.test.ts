/** --server replicas are checked before any work is sent: the model, its capabilities, one bundle on every replica. */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ServerError } from '../../src/datasets/http-post.js';
import { type ModelCard, replicaModelCard } from '../../src/datasets/server-models.js';

const CARD: ModelCard = {
  id: 'm',
  capabilities: ['tokenize', 'decode'],
  image_size: 64,
  grid: [4, 4],
  num_tokens: 16,
  codebook_size: 64,
  embedding_dim: 8,
  preprocessing: { resize: 'shortest_edge' },
  bundle_sha256: 'a'.repeat(64),
};

async function modelsServer(card: ModelCard): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/v1/models' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ default_model: card.id, data: [card] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('replicaModelCard', () => {
  const servers: Server[] = [];
  let same: string;
  let twin: string;
  let other: string;
  before(async () => {
    const started = await Promise.all([modelsServer(CARD), modelsServer(CARD), modelsServer({ ...CARD, bundle_sha256: 'b'.repeat(64) })]);
    servers.push(...started.map((s) => s.server));
    [same, twin, other] = started.map((s) => s.url) as [string, string, string];
  });
  after(() => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

  it('gives the default model card when every replica serves the same bundle', async () => {
    assert.deepEqual(await replicaModelCard([same, twin], undefined, undefined, ['decode']), CARD);
  });

  it('refuses replicas that serve another bundle under the same model id', async () => {
    await assert.rejects(replicaModelCard([same, other], undefined, undefined, ['decode']), (e: unknown) => e instanceof ServerError && /must serve the same bundle/.test(e.message));
  });

  it('refuses a model the replica does not serve, or one without the capability the command needs', async () => {
    await assert.rejects(replicaModelCard([same], 'x', undefined, ['decode']), /does not serve model 'x' \(it serves m\)/);
    await assert.rejects(replicaModelCard([same], undefined, undefined, ['encode_text']), /model m on .* cannot encode_text/);
  });
});

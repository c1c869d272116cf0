import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ERROR_TABLE } from '../../src/errors.js';
import { buildOpenApiDocument, serializeOpenApi } from '../../src/http/openapi.js';

describe('OpenAPI document', () => {
  it('openapi/openapi.json is up to date (run `npm run openapi` after changing routes or schemas)', async () => {
    const committed = await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8');
    assert.equal(committed, serializeOpenApi(await buildOpenApiDocument()));
  });

  it('documents every route with an operation id, and error responses from the error table', async () => {
    const doc = (await buildOpenApiDocument()) as any;
    for (const path of ['/v1/models', '/v1/tokenize', '/v1/decode', '/v1/encode', '/v1/similarity', '/healthz', '/readyz', '/metrics']) {
      const operations = Object.values(doc.paths[path] ?? {}) as any[];
      assert.ok(operations.length > 0, path);
      for (const op of operations) assert.ok(op.operationId && op.summary, path);
    }
    const tokenize = doc.paths['/v1/tokenize'].post;
    assert.deepEqual(Object.keys(tokenize.requestBody.content).sort(), ['application/json', 'image/*', 'multipart/form-data']);
    assert.match(tokenize.responses['429'].description, new RegExp(`queue_full: ${ERROR_TABLE.queue_full.title}`));
    assert.ok(tokenize.responses['422'].content['application/problem+json']);
    assert.ok(doc.components.schemas.Problem);
  });

  it("names the package's version and, without API keys, requires no security (no lock icons in Swagger UI)", async () => {
    const doc = (await buildOpenApiDocument()) as any;
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(doc.info.version, pkg.version);
    assert.deepEqual(doc.security, []);
    assert.equal(doc.components.securitySchemes, undefined);
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const op of Object.values(operations)) assert.ok(op.security === undefined || op.security.length === 0, path);
    }
  });
});

/**
 * The engine without HTTP: image files -> token ids and embeddings, in-process.
 *
 *   npx tsx examples/engine.ts photo.jpg drawing.png        # the models under ./models
 *   TOKLIP_MODELS_DIR=test/fixtures/bundles npx tsx examples/engine.ts img.png
 *
 * Prints one JSON line per image. The configuration is the service's (TOKLIP_* variables).
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { loadConfig } from '../src/config/index.js';
import { createRequestContext, startEngine } from '../src/engine/index.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: tsx examples/engine.ts IMAGE...\n');
  process.exit(2);
}
const config = loadConfig(process.env, []);
// Logs go to stderr: stdout holds the results.
const { engine } = await startEngine(config, { log: pino({ level: 'warn' }, pino.destination(2)) });
try {
  const images = await Promise.all(files.map((file) => readFile(file)));
  const ctx = createRequestContext({ requestId: 'example', timeoutMs: config.requestTimeoutMs });
  const result = await engine.encodeImages({ images }, ctx);
  ctx.close();
  result.value.forEach((image, i) => {
    const norm = Math.hypot(...image.embedding);
    process.stdout.write(`${JSON.stringify({ file: files[i], model: result.model.id, ids: Array.from(image.ids), embedding_norm: norm })}\n`);
  });
} finally {
  await engine.close();
}

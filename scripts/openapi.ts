/** npm run openapi: writes openapi/openapi.json from the code (a test fails when it is stale). */
import { mkdir, writeFile } from 'node:fs/promises';
import { buildOpenApiDocument, serializeOpenApi } from '../src/http/openapi.js';

const target = new URL('../openapi/openapi.json', import.meta.url);
await mkdir(new URL('.', target), { recursive: true });
await writeFile(target, serializeOpenApi(await buildOpenApiDocument()));
process.stdout.write(`wrote ${target.pathname}\n`);

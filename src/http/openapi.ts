/**
 * The OpenAPI document, generated from the route schemas of an app built with the default
 * configuration (so the committed openapi/openapi.json does not depend on the machine).
 */
import { pino } from 'pino';
import { loadConfig } from '../config/load.js';
import { createMetrics } from '../metrics.js';
import { buildApp } from './app.js';
import { ServiceState } from './state.js';

export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const config = loadConfig({}, [], { cpuCount: 1, cwd: '/' });
  const app = await buildApp(config, { state: new ServiceState(), metrics: createMetrics({ defaultMetrics: false }), logger: pino({ level: 'silent' }) });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

export function serializeOpenApi(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

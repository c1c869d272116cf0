/**
 * Starts the real service (workers, ORT sessions, HTTP on a free port) for HTTP tests, serving
 * the exporter's fixture bundle tiny-64 unless TOKLIP_MODELS_DIR says otherwise.
 */
import type { Logger } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import type { RemoteImageFetcher } from '../../src/http/remote-images/fetch-image.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { FIXTURE_BUNDLES_DIR } from './golden.js';
import { testLogger } from './silent-logger.js';
import type { WorkerFaults } from './worker-faults.js';

/**
 * Device of the test servers: cpu, unless TOKLIP_TEST_DEVICE says cuda or cuda:N
 * (scripts/gpu-check.sh runs the HTTP tests that way on a GPU machine).
 */
export const TEST_DEVICE = process.env.TOKLIP_TEST_DEVICE ?? 'cpu';
if (!/^(cpu|cuda|cuda:\d+)$/.test(TEST_DEVICE)) throw new Error(`TOKLIP_TEST_DEVICE=${TEST_DEVICE}: use cpu, cuda or cuda:N`);
/** The execution provider /v1/models must report for TEST_DEVICE. */
export const TEST_PROVIDER = TEST_DEVICE === 'cpu' ? 'cpu' : 'cuda';

export async function startTestServer(
  env: Record<string, string> = {},
  options: { faults?: WorkerFaults; remoteImages?: RemoteImageFetcher; logger?: Logger } = {},
): Promise<RunningServer> {
  const config = loadConfig(
    {
      TOKLIP_HOST: '127.0.0.1',
      TOKLIP_PORT: '0',
      TOKLIP_MODELS_DIR: FIXTURE_BUNDLES_DIR,
      TOKLIP_INTRA_OP_THREADS: '1',
      TOKLIP_IMAGE_THREADS: '1',
      TOKLIP_DEVICE: TEST_DEVICE,
      // The server shares its event loop with the test code: no load shedding unless a test asks.
      TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    },
    [],
  );
  return startServer(config, {
    logger: options.logger ?? testLogger(),
    ...(options.faults ? { workerEntry: options.faults.entry } : {}),
    ...(options.remoteImages ? { remoteImages: options.remoteImages } : {}),
  });
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

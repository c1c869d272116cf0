// Container HEALTHCHECK: exits 0 when GET /healthz answers 2xx within 4 s (the Dockerfile gives
// the check 5 s). Node's fetch, so that the image needs no curl or wget.
const port = process.env.TOKLIP_PORT ?? '8080';

try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(4000),
  });
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  console.error(`healthcheck failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

// Starts worker.ts under tsx (dev and tests): Node 20 cannot start a worker from a .ts file.
// The compiled service starts dist/inference/worker.js directly.
const { register } = await import('tsx/esm/api');
register();
await import(new URL('./worker.ts', import.meta.url).href);

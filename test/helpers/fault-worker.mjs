// Starts fault-worker.ts under tsx (a worker thread cannot load .ts by itself).
const { register } = await import('tsx/esm/api');
register();
await import(new URL('./fault-worker.ts', import.meta.url).href);

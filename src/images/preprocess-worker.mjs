// Entry of a preprocessing worker when the service runs from TypeScript sources (tests,
// `npm run dev`): worker threads cannot load .ts directly, so register tsx first. The compiled
// service loads dist/images/preprocess-worker.js instead.
const { register } = await import('tsx/esm/api');
register();
const worker = await import('./preprocess-worker.ts');
export default worker.default;

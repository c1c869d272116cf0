/**
 * Loaded into every test process (`node --import ./test/helpers/process-guard.mjs`, see the
 * test:node script): an unhandled rejection or uncaught exception anywhere in the main thread,
 * even after the tests of a file finished, is printed and makes that test process fail.
 * Plain JavaScript, because worker threads inherit the flag before tsx is registered in them;
 * in worker threads it does nothing (their failures reach their pools, which the tests check).
 */
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const problems = [];
  const record = (kind) => (reason) => {
    const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
    problems.push(`${kind}: ${text}`);
    process.stderr.write(`\n[process-guard] ${kind}: ${text}\n`);
    process.exitCode = 1;
  };
  process.on('unhandledRejection', record('unhandledRejection'));
  process.on('uncaughtException', record('uncaughtException'));
  process.on('exit', () => {
    if (problems.length > 0) {
      process.stderr.write(`[process-guard] ${problems.length} unhandled error(s): failing this test process\n`);
      process.exitCode = 1;
    }
  });
}

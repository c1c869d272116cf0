/**
 * The process around main(): real streams and environment, SIGINT / SIGTERM turned into the
 * job's stop signal (a second signal exits at once), the exit code. `toklip serve` is left to
 * the server's own signal handling.
 */
import { main } from './main.js';

const argv = process.argv.slice(2);
const stop = new AbortController();
if (argv[0] !== 'serve') {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    process.stderr.write(`\ntoklip: ${signal}: stopping (again to exit at once)\n`);
    stop.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

const code = await main(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal });
if (argv[0] !== 'serve') {
  // Worker threads and timers of a closed engine must not keep the process: exit with the status.
  process.exitCode = code;
  process.exit(code);
}

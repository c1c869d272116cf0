/**
 * `toklip serve [flags]`: the service, as `npm start` runs it. The server's own entry module
 * starts when it is the process's main script; so this process becomes that script (argv[1]
 * names it) and imports it: same settings, same signals (SIGTERM drains), same exit codes.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SERVE_HELP = `Usage: toklip serve [--port N] [--models-dir DIR] [any service flag]

Starts the HTTP service in this process, as 'npm start' does: every TOKLIP_* variable and its
flag (README, Configuration); SIGTERM or SIGINT drains in-flight requests, then exits.`;

export async function serveCommand(argv: readonly string[], write: (text: string) => void): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    write(`${SERVE_HELP}\n`);
    return;
  }
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`../../http/server.${fromSources ? 'ts' : 'js'}`, import.meta.url));
  process.argv = [process.argv[0]!, entry, ...argv];
  await import(pathToFileURL(entry).href);
}

/**
 * Headless Chromium for the first-contact tests: Debian's `chromium` package (installed by
 * scripts/ensure-browser.sh, which .ci/run calls), driven by playwright-core, which never
 * downloads a browser of its own. Where the browser is missing, the test runs that script
 * (it installs the package when root, as `npm test` installs the Python packages it needs);
 * a browser still missing is a failure that names the fix, never a skipped test.
 */
import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ENSURE_BROWSER = fileURLToPath(new URL('../../scripts/ensure-browser.sh', import.meta.url));

function runnable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function ensureChromium(): Promise<void> {
  if (await runnable(CHROMIUM)) return;
  let why = '';
  try {
    await promisify(execFile)('bash', [ENSURE_BROWSER], { timeout: 600_000 });
  } catch (error) {
    why = `: ${String((error as { stderr?: string }).stderr ?? error).trim()}`;
  }
  if (!(await runnable(CHROMIUM))) {
    throw new Error(`${CHROMIUM} is missing and scripts/ensure-browser.sh did not install it${why}. Install Debian's chromium (as root: bash scripts/ensure-browser.sh, or apt-get install chromium)`);
  }
}

/** Flags that keep a headless Chromium quiet and self-contained on a machine without a display or network. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile folder. */
  close(): Promise<void>;
}

/** Starts Chromium with a fresh profile (--user-data-dir in a new temporary folder). */
export async function launchChromium(): Promise<Browser> {
  await ensureChromium();
  const profile = await mkdtemp(join(tmpdir(), 'toklip-chromium-'));
  try {
    // playwright-core passes the profile folder as --user-data-dir.
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
    return {
      context,
      close: async () => {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Swagger UI as a newcomer meets it, in a real browser (headless Chromium, see browser.ts):
 * /docs of a live server on the shipped model, "Try it out" then "Execute" for every
 * operation with the examples the page fills in, each answered 2xx; and the same page opened
 * through the machine's network address over plain HTTP (the address a newcomer on another
 * machine uses), where a CSP with `upgrade-insecure-requests` sends the browser to https for
 * Swagger UI's own scripts and leaves a blank page (issue 26).
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { RunningServer } from '../../src/http/server.js';
import { startTestServer } from '../helpers/server.js';
import { type Browser, launchChromium } from './browser.js';

const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));
/** Bound on any one wait in the page: a loaded 2-core machine, but never an endless wait. */
const WAIT_MS = 30_000;

/** The little of the DOM that the functions run in the page use (the project's lib has no DOM types). */
interface PageElement {
  querySelector(selector: string): PageElement | null;
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
  click(): void;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement> };

/** A non-loopback IPv4 address of this machine, if it has one. */
function networkAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

/** The keys of an OpenAPI path item that are operations (others: parameters, summary, servers...). */
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** The operations of the served OpenAPI document, as "METHOD /path". */
async function operations(url: string): Promise<string[]> {
  const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.has(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Records every request of the page that failed or was answered 4xx/5xx, and every console error (a CSP refusal prints one). */
function watchLoads(page: Page): string[] {
  const failed: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') failed.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => failed.push(`${r.resourceType()} ${r.url()}: ${r.failure()?.errorText ?? 'failed'}`));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.request().resourceType()} ${r.url()}: HTTP ${r.status()}`);
  });
  return failed;
}

describe('Swagger UI (/docs) in headless Chromium, shipped model', () => {
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    // 0.0.0.0, as `npm start` listens: the page must also load through the network address.
    // Both start at once; whichever started is kept for `after` even when the other failed.
    const [started, launched] = await Promise.allSettled([startTestServer({ TOKLIP_MODELS_DIR: SHIPPED_MODELS_DIR, TOKLIP_HOST: '0.0.0.0' }), launchChromium()]);
    if (started.status === 'fulfilled') server = started.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'rejected') throw started.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('"Try it out" -> "Execute" answers 2xx for every operation, with the examples as filled in', { timeout: 180_000 }, async () => {
    const expected = await operations(server.url);
    const page = await browser.context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`${server.url}/docs`);
    await page.locator('.opblock').first().waitFor();
    const listed = await page.locator('.opblock').evaluateAll((els) =>
      els.map((e) => `${e.querySelector('.opblock-summary-method')?.textContent ?? ''} ${e.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? ''}`),
    );
    assert.deepEqual([...listed].sort(), [...expected].sort(), 'Swagger UI lists every operation of /openapi.json');

    // Open every operation, switch each to "Try it out", then "Execute" them all, clicking the
    // buttons a reader clicks (in the page: one round trip per step instead of one per button).
    const clickAll = (selector: string) =>
      page.evaluate((sel) => {
        for (const block of document.querySelectorAll('.opblock')) block.querySelector(sel)?.click();
      }, selector);
    const untilEvery = (selector: string) =>
      page.waitForFunction((sel) => [...document.querySelectorAll('.opblock')].every((block) => block.querySelector(sel) !== null), selector, { timeout: WAIT_MS });
    await clickAll('.opblock-summary-control');
    await untilEvery('button.try-out__btn');
    await clickAll('button.try-out__btn');
    await untilEvery('button.execute');
    await clickAll('button.execute');
    // Each operation's "Server response" code, once all have one (or the wait is over).
    await untilEvery('.live-responses-table .response .response-col_status').catch(() => undefined);
    const outcomes = await page.evaluate(() =>
      [...document.querySelectorAll('.opblock')].map((block) => {
        const operation = `${block.querySelector('.opblock-summary-method')?.textContent ?? ''} ${block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? ''}`;
        const response = block.querySelector('.live-responses-table .response');
        const status = Number(response?.querySelector('.response-col_status')?.textContent?.trim() ?? NaN);
        const body = response?.querySelector('.response-col_description .highlight-code, .response-col_description')?.textContent ?? '';
        return { operation, status, detail: response ? body.replace(/\s+/g, ' ').slice(0, 300) : 'no server response shown' };
      }),
    );
    const failures = outcomes.filter((o) => !(o.status >= 200 && o.status < 300)).map((o) => `${o.operation} -> ${o.status}: ${o.detail}`);
    if (failures.length > 0) assert.fail(`operations whose "Execute" did not answer 2xx:\n${failures.join('\n')}`);
    await page.close();
  });

  it('loads through a non-loopback address over plain HTTP: operations listed, no failed script loads', { timeout: 120_000 }, async (t) => {
    const port = new URL(server.url).port;
    const address = networkAddress();
    // A CSP asking to upgrade insecure requests breaks every plain-HTTP address but loopback.
    const docs = await fetch(`${server.url}/docs/static/index.html`);
    assert.equal(docs.status, 200);
    const csp = docs.headers.get('content-security-policy') ?? '';
    if (address === undefined) {
      t.diagnostic('this machine has no non-loopback IPv4 address: the page is not loaded through one; checking the CSP header only');
      assert.doesNotMatch(csp, /upgrade-insecure-requests/, `/docs CSP: ${csp}`);
      return;
    }
    const expected = await operations(server.url);
    const page = await browser.context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const failed = watchLoads(page);
    const url = `http://${address}:${port}/docs`;
    t.diagnostic(`loading ${url}`);
    await page.goto(url);
    const rendered = await page
      .locator('.opblock')
      .first()
      .waitFor()
      .then(
        () => true,
        () => false,
      );
    assert.ok(rendered, `${url} rendered no operation within ${WAIT_MS} ms (CSP: ${csp}); failed loads:\n${failed.join('\n')}`);
    assert.equal(await page.locator('.opblock').count(), expected.length, 'every operation is listed');
    assert.deepEqual(failed, [], `loads that failed on ${url}`);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, `/docs CSP: ${csp}`);
    await page.close();
  });
});

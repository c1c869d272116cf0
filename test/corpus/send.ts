/** Sends corpus cases over HTTP with a per-request timeout, and compares answers with expectations. */
import type { CorpusCase } from './types.js';

export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Record<string, unknown> | undefined;
}

/** One request; a hang (no answer within timeoutMs) rejects. */
export async function send(base: string, c: CorpusCase, timeoutMs: number): Promise<Answer> {
  const res = await fetch(`${base}${c.path}`, {
    method: c.method,
    headers: c.headers,
    ...(c.body !== undefined ? { body: c.body } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
}

/** What is wrong with an answer, or undefined when it is the expected one. */
export function mismatch(c: CorpusCase, answer: Answer): string | undefined {
  const { expect } = c;
  const got = `${answer.status} ${String(answer.body?.code ?? '')}: ${String(answer.body?.detail ?? '').slice(0, 200)}`;
  if (answer.status !== expect.status) return `expected ${expect.status} ${expect.code ?? ''}, got ${got}`;
  if (expect.status >= 400) {
    if (!answer.contentType.startsWith('application/problem+json')) return `expected problem+json, got ${answer.contentType}`;
    if (answer.body?.status !== expect.status) return `problem status ${String(answer.body?.status)}`;
    if (expect.code !== undefined && answer.body?.code !== expect.code) return `expected code ${expect.code}, got ${got}`;
    if (expect.detail !== undefined && !expect.detail.test(String(answer.body?.detail))) return `detail does not match ${expect.detail}: ${got}`;
  }
  return undefined;
}

/** Runs tasks with at most `limit` in flight, in order of the input. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * Soak under overload: the service (a child process on loopback, bench/lib/server.ts) is first
 * measured closed-loop to find its capacity on a request mix, then offered `--load` times that
 * rate, open-loop (arrivals do not wait for answers), for `--duration` seconds. Bounded in time.
 *
 * Reports requests by status and problem code (200 served; 429 queue_full, whose reason says
 * queue_limit or predicted_wait, and 503 overloaded refused at admission; no answer within
 * deadline + 10 s: client-timeout, with when those were sent; 504 deadline_exceeded past the deadline; anything else), the latency of
 * admitted requests (all but those refused at admission) against the request deadline,
 * the server's RSS before and after (and sampled during), and its event-loop lag (prom-client's
 * monitorEventLoopDelay, reset at every scrape, scraped every 5 s, minus its 10 ms sampling interval).
 *
 *   npm run bench:soak -- --bundle DIR [--duration 60] [--load 4] [--calibrate 15]
 *        [--deadline-ms 2000] [--queue-limit 256] [--max-batch 16] [--max-delay-ms 5]
 *        [--workers 1] [--intra-op-threads 1] [--image-threads 1] [--max-event-loop-delay-ms 1000]
 *        [--admission-wait-fraction F (default: the server's, TOKLIP_ADMISSION_WAIT_FRACTION)]
 *        [--label NAME] [--out bench/results]
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type BenchBundle, bundleLabel, idInput, readBundle } from './lib/bundle.js';
import { DEFAULT_OUT, MiB, Run, fmt, formatTable, percentile } from './lib/common.js';
import { picture } from './lib/images.js';
import { type RunningService, eventLoopLagMs, scrape, startService } from './lib/server.js';
import { EVENT_LOOP_SAMPLING_MS } from '../src/metrics.js';

interface Call {
  readonly name: string;
  readonly path: string;
  readonly body: Buffer;
  /** Share of the mix. */
  readonly weight: number;
}

interface Outcome {
  readonly status: string;
  readonly ms: number;
  /** Seconds from the start of the open loop to the request's arrival (soak only). */
  readonly sentAt?: number;
}

/** The mix: images (decode, resize, vq_encoder [+ semantic_encoder]), token ids, texts, decode. */
async function mix(bundle: BenchBundle): Promise<Call[]> {
  const ids = Array.from(idInput(1, bundle.numTokens, bundle.codebookSize), Number);
  const jpeg = (await picture(320, 'jpeg')).toString('base64');
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  return [
    { name: 'tokenize 320x240 JPEG', path: '/v1/tokenize', body: json({ images: [jpeg] }), weight: 0.35 },
    { name: 'encode image', path: '/v1/encode', body: json({ images: [jpeg] }), weight: 0.15 },
    { name: 'encode tokens', path: '/v1/encode', body: json({ tokens: [ids] }), weight: 0.2 },
    { name: 'encode texts', path: '/v1/encode', body: json({ texts: ['a photo of a cat', 'a red car'] }), weight: 0.15 },
    { name: 'decode', path: '/v1/decode', body: json({ tokens: [ids] }), weight: 0.15 },
  ];
}

function picker(calls: readonly Call[]): () => Call {
  let i = 0;
  // A fixed interleaving with the mix's proportions (deterministic, no clumping).
  const schedule: Call[] = [];
  for (let k = 0; k < 20; k++) for (const c of calls) if (k < Math.round(c.weight * 20)) schedule.push(c);
  return () => schedule[i++ % schedule.length]!;
}

/** Problem codes of requests refused at admission, before any work: not "admitted". */
const REFUSED = new Set(['queue_full', 'overloaded', 'rate_limited']);

function isRefused(o: Outcome): boolean {
  return REFUSED.has(o.status.split(' ')[1] ?? '');
}

/**
 * The kernel's count of connections dropped because a listen queue was full (Linux
 * /proc/net/netstat ListenOverflows, machine-wide); undefined elsewhere. A dropped SYN or ACK is
 * retried by the client after 1 s, 3 s, 7 s...: seconds the server never sees.
 */
function listenOverflows(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const names = lines.find((l) => l.startsWith('TcpExt:') && l.includes('ListenOverflows'))?.split(/\s+/);
    const values = lines.filter((l) => l.startsWith('TcpExt:'))[1]?.split(/\s+/);
    const at = names?.indexOf('ListenOverflows') ?? -1;
    return at > 0 && values ? Number(values[at]) : undefined;
  } catch {
    return undefined;
  }
}

/** No HTTP answer at all: the client gave up (client-timeout) or the connection failed. */
function isUnanswered(o: Outcome): boolean {
  return !/^\d{3}/.test(o.status);
}

const API_ROUTE = /route="\/v1\//;

/**
 * The server's own count of answers to /v1 routes by status, its request-time histogram
 * (seconds, cumulative), and where work was refused or dropped: refusals by graph and reason,
 * items timed out in a queue by graph ("preprocess": images waiting for a preprocessing thread
 * are counted as 504s of their route, not here).
 */
function serverView(metrics: Map<string, number>): {
  byStatus: Record<string, number>;
  buckets: Map<number, number>;
  refusals: Record<string, number>;
  timedOut: Record<string, number>;
} {
  const byStatus: Record<string, number> = {};
  const buckets = new Map<number, number>();
  const refusals: Record<string, number> = {};
  const timedOut: Record<string, number> = {};
  for (const [key, value] of metrics) {
    const graph = /graph="([^"]+)"/.exec(key)?.[1];
    if (key.startsWith('toklip_refusals_total{')) {
      const what = /reason="([^"]+)"/.exec(key)?.[1] ?? '?';
      refusals[what] = (refusals[what] ?? 0) + value;
    } else if (key.startsWith('toklip_timed_out_total{')) {
      timedOut[graph ?? '?'] = (timedOut[graph ?? '?'] ?? 0) + value;
    }
    if (!API_ROUTE.test(key)) continue;
    if (key.startsWith('toklip_http_requests_total{')) {
      const status = /status="(\d+)"/.exec(key)?.[1] ?? '?';
      byStatus[status] = (byStatus[status] ?? 0) + value;
    } else if (key.startsWith('toklip_http_request_duration_seconds_bucket{')) {
      const bound = /le="([^"]+)"/.exec(key)?.[1];
      const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound);
      buckets.set(le, (buckets.get(le) ?? 0) + value);
    }
  }
  return { byStatus, buckets, refusals, timedOut };
}

/** after - before, per key, without zeros. */
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, n]) => [k, n - (before[k] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
}

/** The smallest histogram bound under which at least p % of the requests finished (an upper bound of the percentile). */
function bucketPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  for (const le of bounds) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= (p / 100) * total) return le * 1000;
  return Number.NaN;
}

/** Status, with the problem code and reason for errors ("429 queue_full (predicted_wait)"), and the time to the last byte. */
function send(agent: Agent, url: string, call: Call, timeoutMs: number): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      `${url}${call.path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': String(call.body.length) },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        if (res.statusCode === 200) res.resume();
        else res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          let status = String(res.statusCode);
          if (res.statusCode !== 200) {
            try {
              const problem = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string; reason?: string };
              status += ` ${problem.code ?? ''}${problem.reason ? ` (${problem.reason})` : ''}`.trimEnd();
            } catch {
              // not a problem document: the status alone
            }
          }
          resolve({ status, ms: performance.now() - t0 });
        });
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? 'error', ms: performance.now() - t0 }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.name === 'AbortError' ? 'client-timeout' : (e.code ?? 'error'), ms: performance.now() - t0 }));
    req.end(call.body);
  });
}

/** Closed loop: `concurrency` clients, each sending as soon as its answer arrived. Returns 200s/s. */
async function capacity(url: string, next: () => Call, concurrency: number, seconds: number, timeoutMs: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const until = performance.now() + seconds * 1000;
  let ok = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) if ((await send(agent, url, next(), timeoutMs)).status === '200') ok++;
    }),
  );
  agent.destroy();
  return ok / seconds;
}

interface Sample {
  readonly t: number;
  readonly rssMiB: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly inFlight: number;
}

async function sample(service: RunningService, t0: number, inFlight: number): Promise<Sample> {
  const m = await scrape(service.url);
  return {
    t: Math.round((performance.now() - t0) / 100) / 10,
    rssMiB: service.rss() / MiB,
    lagP99Ms: eventLoopLagMs(m, 'p99'),
    lagMaxMs: eventLoopLagMs(m, 'max'),
    inFlight,
  };
}

/** Open loop at `rate` requests/s for `seconds`: arrivals on a fixed clock, whatever the answers. */
async function openLoop(service: RunningService, next: () => Call, rate: number, seconds: number, timeoutMs: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 2048 });
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  const samples: Sample[] = [];
  const t0 = performance.now();
  let sent = 0;
  let nextSample = 5;
  while (true) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= seconds) break;
    const due = Math.floor(elapsed * rate) - sent;
    for (let i = 0; i < due; i++) {
      const sentAt = elapsed;
      const p = send(agent, service.url, next(), timeoutMs).then((o) => {
        outcomes.push({ ...o, sentAt });
        pending.delete(p);
      });
      pending.add(p);
      sent++;
    }
    if (elapsed >= nextSample) {
      nextSample += 5;
      void sample(service, t0, pending.size).then(
        (s) => samples.push(s),
        (error: unknown) => console.log(`  sample at ${fmt(elapsed)} s failed: ${String(error)}`),
      );
    }
    await sleep(5);
  }
  const offeredSeconds = (performance.now() - t0) / 1000;
  await Promise.all(pending);
  agent.destroy();
  return { outcomes, samples, sent, offeredSeconds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string', default: 'test/fixtures/bundles/tiny-64' },
      duration: { type: 'string', default: '60' },
      load: { type: 'string', default: '4' },
      calibrate: { type: 'string', default: '15' },
      'deadline-ms': { type: 'string', default: '2000' },
      'queue-limit': { type: 'string', default: '256' },
      'max-batch': { type: 'string', default: '16' },
      'max-delay-ms': { type: 'string', default: '5' },
      workers: { type: 'string', default: '1' },
      'intra-op-threads': { type: 'string', default: '1' },
      'image-threads': { type: 'string', default: '1' },
      'max-event-loop-delay-ms': { type: 'string', default: '1000' },
      'admission-wait-fraction': { type: 'string' },
      label: { type: 'string' },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const bundle = readBundle(values.bundle);
  const duration = Number(values.duration);
  const load = Number(values.load);
  const deadlineMs = Number(values['deadline-ms']);
  const settings = {
    bundle: bundleLabel(bundle.dir),
    duration,
    load,
    calibrateSeconds: Number(values.calibrate),
    deadlineMs,
    queueLimit: Number(values['queue-limit']),
    maxBatch: Number(values['max-batch']),
    maxDelayMs: Number(values['max-delay-ms']),
    workers: Number(values.workers),
    intraOpThreads: Number(values['intra-op-threads']),
    imageThreads: Number(values['image-threads']),
    maxEventLoopDelayMs: Number(values['max-event-loop-delay-ms']),
    admissionWaitFraction: values['admission-wait-fraction'] === undefined ? 'default' : Number(values['admission-wait-fraction']),
  };
  const run = new Run<unknown>('soak', settings);
  const service = await startService(bundle.dir, {
    workers: settings.workers,
    intraOpThreads: settings.intraOpThreads,
    maxBatch: settings.maxBatch,
    maxDelayMs: settings.maxDelayMs,
    env: {
      TOKLIP_QUEUE_LIMIT: String(settings.queueLimit),
      TOKLIP_REQUEST_TIMEOUT_MS: String(deadlineMs),
      TOKLIP_IMAGE_THREADS: String(settings.imageThreads),
      TOKLIP_MAX_EVENT_LOOP_DELAY_MS: String(settings.maxEventLoopDelayMs),
      ...(values['admission-wait-fraction'] === undefined ? {} : { TOKLIP_ADMISSION_WAIT_FRACTION: values['admission-wait-fraction'] }),
    },
  });
  try {
    const calls = await mix(bundle);
    const clientTimeoutMs = deadlineMs + 10_000;
    // Warm-up, then capacity: enough clients to keep batches full.
    await capacity(service.url, picker(calls), 2 * settings.maxBatch, 5, clientTimeoutMs);
    const capacityRps = await capacity(service.url, picker(calls), 2 * settings.maxBatch, settings.calibrateSeconds, clientTimeoutMs);
    const rate = load * capacityRps;
    console.log(`soak: capacity ${fmt(capacityRps)} requests/s on the mix; offering ${fmt(rate)} requests/s (${load}x) for ${duration} s`);

    const serverBefore = serverView(await scrape(service.url)); // the scrape also resets the event-loop histogram
    const rssBefore = service.rss() / MiB;
    const overflowsBefore = listenOverflows();
    const soak = await openLoop(service, picker(calls), rate, duration, clientTimeoutMs);
    // The queues drain after the last arrival; then the process settles for a few seconds.
    await sleep(5000);
    const rssAfter = service.rss() / MiB;
    const ready = await fetch(`${service.url}/readyz`).then((r) => r.status);
    const overflowsAfter = listenOverflows();
    const listenQueueOverflows = overflowsBefore === undefined || overflowsAfter === undefined ? undefined : overflowsAfter - overflowsBefore;
    const serverAfter = serverView(await scrape(service.url));
    const serverByStatus = delta(serverBefore.byStatus, serverAfter.byStatus);
    const serverRefusals = delta(serverBefore.refusals, serverAfter.refusals);
    const serverTimedOut = delta(serverBefore.timedOut, serverAfter.timedOut);

    const byStatus: Record<string, number> = {};
    for (const o of soak.outcomes) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
    const admitted = soak.outcomes.filter((o) => !isRefused(o)).map((o) => o.ms).sort((a, b) => a - b);
    const answered = soak.outcomes.filter((o) => !isRefused(o) && !isUnanswered(o)).map((o) => o.ms).sort((a, b) => a - b);
    // When the requests that got no answer were sent (5 s windows of the open loop).
    const unansweredBySentAt: Record<string, number> = {};
    for (const o of soak.outcomes.filter(isUnanswered)) {
      const window = `${5 * Math.floor((o.sentAt ?? 0) / 5)}-${5 * Math.floor((o.sentAt ?? 0) / 5) + 5} s`;
      unansweredBySentAt[window] = (unansweredBySentAt[window] ?? 0) + 1;
    }
    const served = soak.outcomes.filter((o) => o.status === '200').map((o) => o.ms).sort((a, b) => a - b);
    const refused = soak.outcomes.filter(isRefused).map((o) => o.ms).sort((a, b) => a - b);
    const lagP99 = soak.samples.map((s) => s.lagP99Ms);
    const lagMax = soak.samples.map((s) => s.lagMaxMs);
    const rssSeries = soak.samples.map((s) => s.rssMiB);
    const results = {
      capacityRps,
      offeredRps: soak.sent / soak.offeredSeconds,
      sent: soak.sent,
      servedRps: (byStatus['200'] ?? 0) / soak.offeredSeconds,
      byStatus,
      admittedLatencyMs: { p50: percentile(admitted, 50), p99: percentile(admitted, 99), max: admitted.at(-1) ?? Number.NaN },
      answeredAdmittedLatencyMs: { p50: percentile(answered, 50), p99: percentile(answered, 99), max: answered.at(-1) ?? Number.NaN },
      unansweredBySentAt,
      servedLatencyMs: { p50: percentile(served, 50), p99: percentile(served, 99), max: served.at(-1) ?? Number.NaN },
      refusedLatencyMs: { p50: percentile(refused, 50), p99: percentile(refused, 99) },
      deadlineMs,
      rssMiB: { before: rssBefore, after: rssAfter, minDuring: Math.min(...rssSeries), maxDuring: Math.max(...rssSeries) },
      eventLoopLagMs: { p99Worst: Math.max(...lagP99), p99Median: percentile([...lagP99].sort((a, b) => a - b), 50), max: Math.max(...lagMax) },
      readyAfter: ready,
      listenQueueOverflows,
      // What the server itself saw: answers by status, and its time from the request's headers to the response.
      server: {
        byStatus: serverByStatus,
        refusals: serverRefusals,
        timedOutItems: serverTimedOut,
        requestMsUpperBound: {
          p50: bucketPercentile(serverBefore.buckets, serverAfter.buckets, 50),
          p99: bucketPercentile(serverBefore.buckets, serverAfter.buckets, 99),
        },
      },
      samples: soak.samples,
    };

    console.log(`\nsoak of ${settings.bundle}: ${duration} s at ${fmt(results.offeredRps)} requests/s offered (capacity ${fmt(capacityRps)}/s, ${load}x)\n`);
    console.log(formatTable(['status', 'requests', 'share'], Object.entries(byStatus).map(([s, n]) => [s, n, `${fmt((100 * n) / soak.sent)} %`])));
    console.log(
      '\n' +
        formatTable(
          ['latency (ms)', 'p50', 'p99', 'max'],
          [
            ['admitted (not refused)', results.admittedLatencyMs.p50, results.admittedLatencyMs.p99, results.admittedLatencyMs.max],
            ['admitted and answered', results.answeredAdmittedLatencyMs.p50, results.answeredAdmittedLatencyMs.p99, results.answeredAdmittedLatencyMs.max],
            ['served (200)', results.servedLatencyMs.p50, results.servedLatencyMs.p99, results.servedLatencyMs.max],
            ['refused at admission', results.refusedLatencyMs.p50, results.refusedLatencyMs.p99, '-'],
          ],
        ),
    );
    console.log(
      `\ndeadline ${deadlineMs} ms; admitted p99 / deadline = ${fmt(results.admittedLatencyMs.p99 / deadlineMs)}; ` +
        `admitted and answered p99 / deadline = ${fmt(results.answeredAdmittedLatencyMs.p99 / deadlineMs)}`,
    );
    const unanswered = Object.entries(unansweredBySentAt);
    if (unanswered.length > 0) console.log(`requests without an answer, by when they were sent: ${unanswered.map(([w, n]) => `${w}: ${n}`).join(', ')}`);
    console.log(`server RSS: ${fmt(rssBefore)} MiB before, ${fmt(rssAfter)} MiB after (during: ${fmt(results.rssMiB.minDuring)}..${fmt(results.rssMiB.maxDuring)} MiB)`);
    console.log(`event-loop lag beyond the ${EVENT_LOOP_SAMPLING_MS} ms sampling interval (5 s windows): p99 median ${fmt(results.eventLoopLagMs.p99Median)} ms, p99 worst ${fmt(results.eventLoopLagMs.p99Worst)} ms, max ${fmt(results.eventLoopLagMs.max)} ms`);
    console.log(`served ${fmt(results.servedRps)} requests/s; /readyz after: ${ready}`);
    if (listenQueueOverflows !== undefined) console.log(`connections dropped by a full listen queue during the soak (machine-wide): ${listenQueueOverflows}`);
    console.log(
      `the server's own count of /v1 answers: ${Object.entries(serverByStatus).map(([s, n]) => `${s}: ${n}`).join(', ')}; ` +
        `its time from headers to response: p50 <= ${fmt(results.server.requestMsUpperBound.p50)} ms, p99 <= ${fmt(results.server.requestMsUpperBound.p99)} ms (histogram bounds)`,
    );
    const list = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
    console.log(`its refusals (429) by graph and reason: ${list(serverRefusals)}; items dropped in a batcher queue at their deadline: ${list(serverTimedOut)}`);
    console.log('\n' + formatTable(['t (s)', 'RSS MiB', 'lag p99 ms', 'lag max ms', 'in flight'], soak.samples.map((s) => [s.t, s.rssMiB, s.lagP99Ms, s.lagMaxMs, s.inFlight])));
    run.finish(results, values.out, `soak-${values.label ?? settings.bundle}.json`);
  } finally {
    await service.stop();
  }
}

await main();

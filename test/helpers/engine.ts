/**
 * An engine over test doubles (a FakeExecutor for the workers, a fake clock), assembled from
 * the same parts startEngine() assembles: the scheduler, the admission controller, the engine.
 */
import type { Config } from '../../src/config/schema.js';
import { AdmissionController, type EventLoopProbe } from '../../src/engine/admission.js';
import { Engine } from '../../src/engine/engine.js';
import type { ImagePreprocessor } from '../../src/images/index.js';
import type { Metrics } from '../../src/metrics.js';
import type { ModelRegistry } from '../../src/models/registry.js';
import type { Clock } from '../../src/scheduling/clock.js';
import { type BatchExecutor, Scheduler } from '../../src/scheduling/scheduler.js';
import { testLogger } from './silent-logger.js';

export function buildTestEngine(options: {
  config: Pick<Config, 'maxBatch' | 'maxDelayMs' | 'queueLimit' | 'admissionWaitFraction' | 'maxEventLoopDelayMs'>;
  registry: ModelRegistry;
  executor: BatchExecutor;
  images: ImagePreprocessor;
  clock: Clock;
  metrics?: Metrics;
  eventLoop?: EventLoopProbe;
}): { engine: Engine; scheduler: Scheduler; admission: AdmissionController } {
  const { config, registry, executor, images, clock, metrics } = options;
  const scheduler = new Scheduler(config, registry, executor, { log: testLogger(), clock, ...(metrics ? { metrics } : {}) });
  const admission = new AdmissionController(
    { queueLimit: config.queueLimit, waitFraction: config.admissionWaitFraction, maxEventLoopDelayMs: config.maxEventLoopDelayMs },
    { stages: scheduler, images, clock, ...(metrics ? { metrics } : {}), ...(options.eventLoop ? { eventLoop: options.eventLoop } : {}) },
  );
  const engine = new Engine({ registry, scheduler, images, admission, ...(metrics ? { metrics } : {}) });
  return { engine, scheduler, admission };
}

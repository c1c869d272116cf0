/** The engine of a command that runs the model in this process, started from the service's settings. */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { type Engine, type EngineLayout, startEngine } from '../engine/index.js';

export interface LocalEngine {
  readonly engine: Engine;
  readonly layout: EngineLayout;
  close(): Promise<void>;
}

export async function startLocalEngine(config: Config, log: Logger): Promise<LocalEngine> {
  const { engine, layout } = await startEngine(config, { log });
  return { engine, layout, close: () => engine.close() };
}

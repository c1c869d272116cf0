import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { ServiceState } from './state.js';

/** What every route plugin receives from the app. */
export interface RouteOptions {
  readonly config: Config;
  readonly state: ServiceState;
  readonly metrics: Metrics;
}

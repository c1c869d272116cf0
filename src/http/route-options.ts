import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { RemoteImageFetcher } from './remote-images/fetch-image.js';
import type { ServiceState } from './state.js';

/** What every route plugin receives from the app. */
export interface RouteOptions {
  readonly config: Config;
  readonly state: ServiceState;
  readonly metrics: Metrics;
  /** Fetches image URLs when TOKLIP_ALLOW_URLS is on. */
  readonly remoteImages?: RemoteImageFetcher | undefined;
}

/** A route plugin: typed requests from its TypeBox schemas. */
export type RoutePlugin = FastifyPluginAsyncTypebox<RouteOptions>;

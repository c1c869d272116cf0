/**
 * Request options may come from the query string, JSON body members or multipart fields; each
 * route declares them once (a TypeBox object, src/http/schemas). A value given in two places
 * must agree.
 */
import type { Static, TObject } from 'typebox';
import { ServiceError } from '../../errors.js';

/** The names of a route's options. */
export function optionNames<O extends TObject>(options: O): (keyof Static<O> & string)[] {
  return Object.keys(options.properties) as (keyof Static<O> & string)[];
}

/** The options a route declares, picked from a JSON body. */
export function pickOptions<O extends TObject>(source: Partial<Static<O>>, options: O): Partial<Static<O>> {
  const picked: Partial<Static<O>> = {};
  for (const name of optionNames(options)) if (source[name] !== undefined) picked[name] = source[name];
  return picked;
}

export function mergeOptions<T extends object>(query: Partial<T> | undefined, body: Partial<T> | undefined): Partial<T> {
  const merged: Partial<T> = { ...(query ?? {}) };
  for (const [key, value] of Object.entries(body ?? {}) as [keyof T, T[keyof T]][]) {
    if (value === undefined) continue;
    const fromQuery = merged[key];
    if (fromQuery !== undefined && JSON.stringify(fromQuery) !== JSON.stringify(value)) {
      throw new ServiceError('bad_request', `option '${String(key)}' differs between the query string and the body`);
    }
    merged[key] = value;
  }
  return merged;
}

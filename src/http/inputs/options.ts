/**
 * Request options may come from the query string, JSON body members or multipart fields.
 * A value given in two places must agree.
 */
import { Ajv } from 'ajv';
import type { TSchema } from 'typebox';
import { ServiceError } from '../../errors.js';

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

const fieldsAjv = new Ajv({ coerceTypes: 'array', useDefaults: false, allErrors: false, strict: false });
const compiled = new WeakMap<TSchema, ReturnType<typeof fieldsAjv.compile>>();

/** Validates (and coerces) multipart text fields with the route's options schema. */
export function parseFields<T>(schema: TSchema, fields: Record<string, unknown>): T {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = fieldsAjv.compile(schema);
    compiled.set(schema, validate);
  }
  const value = { ...fields };
  if (!validate(value)) {
    const issue = validate.errors?.[0];
    const extra = issue?.params && 'additionalProperty' in issue.params ? ` '${String(issue.params.additionalProperty)}'` : '';
    throw new ServiceError('validation_failed', `multipart field${issue?.instancePath.replaceAll('/', '.') ?? ''} ${issue?.message ?? 'is invalid'}${extra}`);
  }
  return value as T;
}

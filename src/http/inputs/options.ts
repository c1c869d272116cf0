/**
 * Request options may come from the query string, JSON body members or multipart fields.
 * A value given in two places must agree.
 */
import { Ajv } from 'ajv';
import type { TSchema } from 'typebox';
import { ServiceError } from '../../errors.js';
import { describeIssue } from '../validation-detail.js';

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
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  for (const [name, value] of Object.entries(fields)) {
    if (Array.isArray(value) && properties[name] !== undefined && properties[name].type !== 'array') {
      throw new ServiceError('validation_failed', `multipart field ${name} is given ${value.length} times; give it once`);
    }
  }
  const value = { ...fields };
  if (!validate(value)) throw new ServiceError('validation_failed', describeIssue(validate.errors?.[0], 'multipart'));
  return value as T;
}

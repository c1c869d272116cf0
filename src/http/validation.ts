/**
 * Every schema validator of the HTTP layer, made here and nowhere else. JSON bodies are checked
 * strictly (no type coercion: "12" is not a token id); query strings and multipart text fields
 * arrive as text, so their validator coerces ("8" is a batch size there). Ajv's coercion is a
 * setting of an Ajv instance, hence the two instances, both configured here.
 */
import { Ajv, type Options as AjvOptions, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from 'typebox';
import { ServiceError } from '../errors.js';
import { describeIssue } from './validation-detail.js';

// No useDefaults: an option may come from the query or the body, and a filled-in default would
// look like a conflicting value. The engine applies the documented defaults.
const COMMON: AjvOptions = { allErrors: false, useDefaults: false, removeAdditional: false, strict: false };
const strict = new Ajv({ ...COMMON, coerceTypes: false });
const coercing = new Ajv({ ...COMMON, coerceTypes: 'array' });

const compiled = { strict: new WeakMap<object, ValidateFunction>(), coercing: new WeakMap<object, ValidateFunction>() };

function compile(kind: 'strict' | 'coercing', schema: object): ValidateFunction {
  let validate = compiled[kind].get(schema);
  if (validate === undefined) {
    validate = (kind === 'strict' ? strict : coercing).compile(schema);
    compiled[kind].set(schema, validate);
  }
  return validate;
}

/** For a JSON body. */
export function bodyValidator(schema: object): ValidateFunction {
  return compile('strict', schema);
}

/** For text inputs: query strings, path parameters, headers, multipart fields. */
export function textValidator(schema: object): ValidateFunction {
  return compile('coercing', schema);
}

/** Validates (and coerces) multipart text fields with the route's schema of them. */
export function parseFields<S extends TSchema>(schema: S, fields: Record<string, string | string[]>): Static<S> {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  for (const [name, value] of Object.entries(fields)) {
    if (Array.isArray(value) && properties[name] !== undefined && properties[name].type !== 'array') {
      throw new ServiceError('validation_failed', `multipart field ${name} is given ${value.length} times; give it once`);
    }
  }
  const value: unknown = { ...fields };
  const validate = textValidator(schema) as ValidateFunction<Static<S>>;
  if (!validate(value)) throw new ServiceError('validation_failed', describeIssue(validate.errors?.[0], 'multipart'));
  return value;
}

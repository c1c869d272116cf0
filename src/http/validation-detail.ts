/**
 * Ajv's first validation issue as a sentence a client can act on: the member named the way it
 * is written in a request (`tokens[1][5]`, query parameter `ids_format`), and what is wrong.
 */
export interface ValidationIssue {
  keyword?: string;
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

export type IssueLocation = 'body' | 'querystring' | 'multipart' | 'headers' | 'params';

const LOCATION_NAME: Record<IssueLocation, string> = {
  body: 'the JSON body',
  querystring: 'query parameter',
  multipart: 'multipart field',
  headers: 'header',
  params: 'path parameter',
};

/** '/tokens/0/12' -> 'tokens[0][12]'. */
export function memberPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : `${i === 0 ? '' : '.'}${part.replaceAll('~1', '/').replaceAll('~0', '~')}`))
    .join('');
}

export function describeIssue(issue: ValidationIssue | undefined, location: IssueLocation): string {
  if (issue === undefined) return `${LOCATION_NAME[location]} is invalid`;
  const path = memberPath(issue.instancePath);
  const where =
    path === ''
      ? location === 'body' ? 'the JSON body' : location === 'querystring' ? 'the query string' : location === 'multipart' ? 'the multipart form' : `the ${location}`
      : location === 'body' ? path : `${LOCATION_NAME[location]} ${path}`;
  const params = issue.params ?? {};
  switch (issue.keyword) {
    case 'additionalProperties':
      return `${where} has an unknown member '${String(params.additionalProperty)}' (unknown members are refused)`;
    case 'required':
      return `${where} lacks the required member '${String(params.missingProperty)}'`;
    case 'enum':
      return `${where} must be one of: ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'type':
      return path === '' && location === 'body' ? 'the JSON body must be an object' : `${where} ${issue.message ?? 'has the wrong type'}`;
    default:
      return `${where} ${issue.message ?? 'is invalid'}`;
  }
}

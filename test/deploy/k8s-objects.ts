/** Kubernetes manifests in tests: rendered with `kubectl kustomize` (offline) or parsed as written, validated with kubernetes-models. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any; // rendered YAML: each test checks the fields it reads
  data?: Record<string, string>;
}

export const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

/** Every document of a YAML stream; the first parse error is thrown. */
export function parseK8s(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    return document.toJSON() as K8sObject;
  });
}

/** The objects of the kustomization in `path`, rendered by kubectl. */
export function renderKustomization(path: string): K8sObject[] {
  return parseK8s(execFileSync('kubectl', ['kustomize', path], { encoding: 'utf8' }));
}

/** The one object of `kind` among `objects`. */
export function only(objects: K8sObject[], kind: string): K8sObject {
  const matches = objects.filter((object) => object.kind === kind);
  assert.equal(matches.length, 1, `exactly one ${kind}`);
  return matches[0]!;
}

/** Validates with the kubernetes-models class for the object's apiVersion and kind. */
export async function validateSchema(object: K8sObject): Promise<void> {
  const module = (await import(`kubernetes-models/${object.apiVersion}/${object.kind}`)) as Record<
    string,
    new (data: unknown) => { validate(): void }
  >;
  const Model = module[object.kind];
  assert.ok(Model, `kubernetes-models has ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

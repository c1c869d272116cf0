// Reads the facts the deployment files must agree on out of the Dockerfile.
import { readFileSync } from 'node:fs';
import { DockerfileParser, Env } from 'dockerfile-ast';

export const REPO_ROOT = new URL('../../', import.meta.url);

export interface DockerfileFacts {
  text: string;
  /** ENV of the final (runtime) stage. */
  env: Record<string, string>;
  /** USER of the final stage, as uid:gid. */
  user: string;
  exposedPorts: string[];
  healthcheck: string[];
  cmd: string[];
  /** Default values of the global build args. */
  args: Record<string, string>;
  stages: string[];
}

function execForm(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) {
    throw new Error(`not an exec-form JSON array: ${json}`);
  }
  return parsed;
}

export function readDockerfile(): DockerfileFacts {
  const text = readFileSync(new URL('Dockerfile', REPO_ROOT), 'utf8');
  const dockerfile = DockerfileParser.parse(text);
  const instructions = dockerfile.getInstructions();
  const froms = dockerfile.getFROMs();
  const lastFrom = froms.at(-1);
  if (!lastFrom) throw new Error('Dockerfile has no FROM');
  const finalStageLine = lastFrom.getRange().start.line;

  const facts: DockerfileFacts = {
    text,
    env: {},
    user: '',
    exposedPorts: [],
    healthcheck: [],
    cmd: [],
    args: {},
    stages: froms.map((from) => from.getBuildStage() ?? ''),
  };
  const firstFromLine = froms[0]?.getRange().start.line ?? 0;
  for (const instruction of instructions) {
    const keyword = instruction.getKeyword();
    const inFinalStage = instruction.getRange().start.line > finalStageLine;
    if (keyword === 'ARG' && instruction.getRange().start.line < firstFromLine) {
      const [name, value = ''] = instruction.getArgumentsContent()?.split('=', 2) ?? [];
      if (name) facts.args[name] = value;
    }
    if (!inFinalStage) continue;
    const content = instruction.getArgumentsContent() ?? '';
    switch (keyword) {
      case 'ENV':
        if (instruction instanceof Env) {
          for (const property of instruction.getProperties()) {
            facts.env[property.getName()] = property.getValue() ?? '';
          }
        }
        break;
      case 'USER':
        facts.user = content.trim();
        break;
      case 'EXPOSE':
        facts.exposedPorts.push(...content.trim().split(/\s+/));
        break;
      case 'HEALTHCHECK':
        facts.healthcheck = execForm(content.slice(content.indexOf('CMD') + 3).trim());
        break;
      case 'CMD':
        facts.cmd = execForm(content.trim());
        break;
    }
  }
  return facts;
}

/**
 * package.json's `engines` states the real minimum Node.js of the dependency tree: the lowest
 * version that every production dependency in package-lock.json accepts. npm warns (EBADENGINE)
 * on a Node below a dependency's minimum, so an understated minimum means warnings at install;
 * the container and CI run a maintained line at or above it (scripts/ensure-node.sh).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import semver from 'semver';

const ROOT = new URL('../../', import.meta.url);
const json = async <T>(path: string) => JSON.parse(await readFile(new URL(path, ROOT), 'utf8')) as T;

interface Lock {
  packages: Record<string, { dev?: boolean; optional?: boolean; engines?: { node?: string } | string[] }>;
}

/** The lowest released Node.js x.0.0 (major 18..30) that satisfies every range. */
function lowestMajor(ranges: readonly string[]): number | undefined {
  for (let major = 18; major <= 30; major++) {
    if (ranges.every((r) => semver.satisfies(`${major}.0.0`, r) || semver.satisfies(`${major}.99.0`, r))) return major;
  }
  return undefined;
}

describe('Node.js versions', () => {
  it("engines.node is the production dependency tree's minimum", async () => {
    const lock = await json<Lock>('package-lock.json');
    const ranges = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !p.dev && !p.optional && !Array.isArray(p.engines) && typeof p.engines?.node === 'string')
      .map(([, p]) => (p.engines as { node: string }).node);
    const minimum = lowestMajor(ranges);
    assert.ok(minimum !== undefined, 'some Node.js major satisfies every dependency');
    const pkg = await json<{ engines: { node: string } }>('package.json');
    assert.equal(pkg.engines.node, `>=${minimum}`);
  });

  it('scripts/ensure-node.sh and the container run a Node.js line at or above it', async () => {
    const pkg = await json<{ engines: { node: string } }>('package.json');
    const minimum = semver.minVersion(pkg.engines.node)!.major;
    const ensure = await readFile(new URL('scripts/ensure-node.sh', ROOT), 'utf8');
    assert.equal(Number(/^MIN_MAJOR=(\d+)$/m.exec(ensure)?.[1]), minimum, 'ensure-node.sh installs below the minimum never');
    const wanted = Number(/WANT_MAJOR=\$\{TOKLIP_NODE_MAJOR:-(\d+)\}/.exec(ensure)?.[1]);
    assert.ok(wanted >= minimum && wanted % 2 === 0, `an even (LTS) line: ${wanted}`);
    const dockerfile = await readFile(new URL('Dockerfile', ROOT), 'utf8');
    const image = /^ARG NODE_IMAGE=\S+:(\d+)-/m.exec(dockerfile)?.[1];
    assert.equal(Number(image), wanted, 'the container runs the line CI installs');
  });
});

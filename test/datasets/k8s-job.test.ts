/**
 * docker/k8s/dataset-job: the Indexed Job that runs `toklip tokenize` over one dataset, rendered
 * with `kubectl kustomize` (offline) and validated against the Kubernetes schemas of
 * kubernetes-models, as test/deploy does for the service; then checked against the command it
 * runs: every pod's part (JOB_COMPLETION_INDEX, JOB_COMPLETIONS) is a valid --shard and the
 * parts cover the plan, its arguments parse, its settings load, it runs as the image's user with
 * a read-only root and writes only to the shared volume, and the GPU / CPU variants ask for
 * what they use. Without kubectl, each file is validated as written.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { expandInputs } from '../../src/datasets/inputs.js';
import { inPart, selectShard } from '../../src/datasets/sharding.js';
import { readDockerfile } from '../deploy/dockerfile.js';
import { type K8sObject, hasKubectl, only, parseK8s, renderKustomization, validateSchema } from '../deploy/k8s-objects.js';
import { runCli } from './cli.js';

const ROOT = new URL('../../docker/k8s/dataset-job/', import.meta.url);
if (!hasKubectl) process.stderr.write('WARNING test/datasets/k8s-job.test.ts: kubectl not found; the overlays are NOT rendered, only the base files are checked.\n');

function render(dir: string): K8sObject[] {
  return renderKustomization(fileURLToPath(new URL(dir, ROOT)));
}

describe('docker/k8s/dataset-job/base (no kubectl needed)', () => {
  it('holds a Job and a PersistentVolumeClaim, each valid against the Kubernetes schema', async () => {
    const objects = ['job.yaml', 'datasets-pvc.yaml'].flatMap((f) => parseK8s(readFileSync(new URL(`base/${f}`, ROOT), 'utf8')));
    assert.deepEqual(objects.map((o) => o.kind), ['Job', 'PersistentVolumeClaim']);
    for (const object of objects) await validateSchema(object);
  });
});

const dockerfile = readDockerfile();

for (const overlay of ['overlays/gpu', 'overlays/cpu']) {
  describe(`docker/k8s/dataset-job/${overlay}`, { skip: hasKubectl ? false : 'kubectl is not installed' }, () => {
    const objects = hasKubectl ? render(overlay) : [];
    const job = () => only(objects, 'Job');
    const pod = () => job().spec.template.spec;
    const container = () => pod().containers[0];
    /** The environment the pod's process sees (image ENV, then envFrom, then env), for index `i`. */
    const env = (i: number): Record<string, string> => ({
      ...dockerfile.env,
      ...only(objects, 'ConfigMap').data,
      ...Object.fromEntries(container().env.map((e: { name: string; value: string }) => [e.name, e.value])),
      JOB_COMPLETION_INDEX: String(i),
    });

    it('renders a ConfigMap, a Job and a PersistentVolumeClaim, each valid against the Kubernetes schema', async () => {
      assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Job', 'PersistentVolumeClaim']);
      for (const object of objects) await validateSchema(object);
    });

    it('is an Indexed Job whose pods take disjoint parts that cover every shard', () => {
      const spec = job().spec;
      assert.equal(spec.completionMode, 'Indexed');
      const count = spec.completions as number;
      const parts = Array.from({ length: count }, (_, i) => selectShard(undefined, env(i)));
      assert.deepEqual(parts, Array.from({ length: count }, (_, index) => ({ index, count })), 'JOB_COMPLETIONS equals spec.completions');
      for (let unit = 0; unit < 10 * count; unit++) assert.equal(parts.filter((p) => inPart(unit, p)).length, 1);
      assert.ok(spec.parallelism <= count);
    });

    it('runs `toklip tokenize` with arguments and settings the command accepts', async () => {
      assert.deepEqual(container().command, ['toklip']);
      assert.match(dockerfile.text, /ln -s \/app\/bin\/toklip\.mjs \/usr\/local\/bin\/toklip/, 'the image has toklip on its PATH');
      const args = container().args as string[];
      assert.equal(args[0], 'tokenize');
      assert.doesNotThrow(() => loadConfig(env(0), [], { cpuCount: 8, cwd: '/app' }));
      // The command line parses: with --help it stops right after parsing every flag.
      const help = await runCli([...args, '--help']);
      assert.equal(help.code, 0, help.stderr);
      // Inputs are under the shared volume, the brace pattern expands, and the output is there too.
      const inputs = expandInputs(args.slice(1, args.indexOf('--out')));
      assert.ok(inputs.length > 1 && inputs.every((p) => p.startsWith('/data/')), inputs.join(' '));
      assert.ok(args[args.indexOf('--out') + 1]!.startsWith('/data/'));
    });

    it('runs as the image user, read-only root, writing only to the shared volume and /tmp', () => {
      const [uid, gid] = dockerfile.user.split(':').map(Number);
      assert.equal(pod().securityContext.runAsNonRoot, true);
      assert.equal(pod().securityContext.runAsUser, uid);
      assert.equal(pod().securityContext.runAsGroup, gid);
      assert.equal(container().securityContext.readOnlyRootFilesystem, true);
      const mounts = Object.fromEntries(container().volumeMounts.map((m: { mountPath: string }) => [m.mountPath, m]));
      assert.equal(mounts['/models'].readOnly, true);
      assert.equal(env(0).TOKLIP_MODELS_DIR, '/models');
      assert.notEqual(mounts['/data'].readOnly, true);
      assert.ok(mounts['/tmp']);
      const claim = pod().volumes.find((v: { name: string }) => v.name === mounts['/data'].name).persistentVolumeClaim.claimName;
      const pvc = only(objects, 'PersistentVolumeClaim');
      assert.equal(claim, pvc.metadata.name);
      assert.deepEqual(pvc.spec.accessModes, ['ReadWriteMany'], 'every pod writes into the one folder');
    });

    it('retries a part on its own, fails fast on usage errors, and lets evicted pods resume', () => {
      const spec = job().spec;
      assert.equal(pod().restartPolicy, 'Never');
      assert.equal(spec.podReplacementPolicy, 'Failed', 'never two pods of one part at once');
      assert.ok(spec.backoffLimitPerIndex >= 1);
      const rules = spec.podFailurePolicy.rules as { action: string; onExitCodes?: { values: number[] }; onPodConditions?: { type: string }[] }[];
      assert.deepEqual(rules.find((r) => r.onExitCodes?.values.includes(2))?.action, 'FailJob');
      assert.deepEqual(rules.find((r) => r.onExitCodes?.values.includes(3))?.action, 'FailIndex');
      assert.equal(rules.find((r) => r.onPodConditions?.some((c) => c.type === 'DisruptionTarget'))?.action, 'Ignore');
    });

    if (overlay === 'overlays/gpu') {
      it('asks for one NVIDIA GPU, tolerates GPU nodes and runs the CUDA image on CUDA', () => {
        assert.equal(container().resources.limits['nvidia.com/gpu'], 1);
        assert.equal(container().image, 'toklip-serve:cuda');
        assert.equal(loadConfig(env(0), [], { cpuCount: 8, cwd: '/app' }).device.kind, 'cuda');
        assert.ok(pod().tolerations.some((t: { key: string }) => t.key === 'nvidia.com/gpu'));
      });
    } else {
      it('runs the CPU image with workers x threads within its CPU limit', () => {
        assert.equal(container().resources.limits['nvidia.com/gpu'], undefined);
        assert.equal(container().image, 'toklip-serve:cpu');
        const cpus = Number(container().resources.limits.cpu);
        const config = loadConfig(env(0), [], { cpuCount: cpus, cwd: '/app' });
        assert.equal(config.device.kind, 'cpu');
        assert.ok(config.workers * config.intraOpThreads <= cpus);
      });
    }
  });
}

describe('docker/k8s/dataset-job', { skip: hasKubectl ? false : 'kubectl is not installed' }, () => {
  it('renders the GPU variant by default, and leaves the service manifests of docker/k8s alone', () => {
    assert.deepEqual(render(''), render('overlays/gpu'));
    const service = renderKustomization(fileURLToPath(new URL('..', ROOT)));
    assert.ok(!service.some((o) => o.kind === 'Job'));
  });
});

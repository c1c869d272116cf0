// Renders docker/k8s with `kubectl kustomize` (offline), validates every object against the
// Kubernetes schemas of kubernetes-models, and checks that the manifests agree with each other,
// with the Dockerfile and with the service's drain and probe contract. Without kubectl only the
// base manifests are checked (each file as written, against the same schemas), and the skip of
// the rendered checks is printed on stderr, not only as a SKIP line.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { type Config, loadConfig } from '../../src/config/index.js';
import { readDockerfile, REPO_ROOT } from './dockerfile.js';
import { type K8sObject, hasKubectl, only, parseK8s, renderKustomization, validateSchema } from './k8s-objects.js';

const skip = hasKubectl ? false : 'kubectl is not installed (it renders the kustomizations)';
if (!hasKubectl) {
  process.stderr.write(
    'WARNING test/deploy/k8s.test.ts: kubectl not found; the rendered overlays (patches, generated ConfigMap, ' +
      'cross-object wiring) are NOT checked, only the base manifests. Install a recent kubectl (>= 1.27, kustomize v5) to check them.\n',
  );
}

/** The objects of a kustomization's own resource files, parsed as written (no kubectl). */
function readResources(dir: string): K8sObject[] {
  const base = new URL(`docker/k8s/${dir}/`, REPO_ROOT);
  const kustomization = parseAllDocuments(readFileSync(new URL('kustomization.yaml', base), 'utf8'))[0]!.toJSON() as {
    resources: string[];
  };
  return kustomization.resources.flatMap((file) =>
    parseK8s(readFileSync(new URL(file, base), 'utf8')),
  );
}

function render(dir: string): K8sObject[] {
  return renderKustomization(fileURLToPath(new URL(`docker/k8s/${dir}`, REPO_ROOT)));
}

function matchesLabels(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('docker/k8s/base (no kubectl needed)', () => {
  it('lists the five objects of the base, each valid against the Kubernetes schema', async () => {
    const objects = readResources('base');
    assert.deepEqual(objects.map((object) => object.kind).sort(), [
      'Deployment',
      'HorizontalPodAutoscaler',
      'PersistentVolumeClaim',
      'PodDisruptionBudget',
      'Service',
    ]);
    for (const object of objects) await validateSchema(object);
  });
});

const dockerfile = readDockerfile();
const [uid, gid] = dockerfile.user.split(':').map(Number);

for (const overlay of ['overlays/gpu', 'overlays/cpu']) {
  describe(`docker/k8s/${overlay}`, { skip }, () => {
    const objects = skip ? [] : render(overlay);
    const deployment = () => only(objects, 'Deployment');
    const podSpec = () => deployment().spec.template.spec;
    const container = () => {
      const containers = podSpec().containers;
      assert.equal(containers.length, 1);
      return containers[0];
    };
    const config = () => only(objects, 'ConfigMap');
    /** The container's environment as the pod sees it: image ENV, then envFrom, then env. */
    const env = (): Record<string, string> => {
      const literal = Object.fromEntries(
        (container().env ?? []).map((entry: { name: string; value: string }) => [entry.name, entry.value]),
      );
      return { ...dockerfile.env, ...config().data, ...literal };
    };
    /** The service's own parse of that environment (throws on unknown or invalid TOKLIP_*). */
    const serviceConfig = (): Config => loadConfig(env(), [], { cpuCount: 4, cwd: '/app' });

    it('renders the expected objects, each valid against the Kubernetes schema', async () => {
      assert.deepEqual(objects.map((object) => object.kind).sort(), [
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'PersistentVolumeClaim',
        'PodDisruptionBudget',
        'Service',
      ]);
      for (const object of objects) await validateSchema(object);
    });

    it('configures the service with settings it accepts', () => {
      assert.doesNotThrow(serviceConfig);
    });

    it('probes readiness on /readyz and liveness on /healthz, on the service port', () => {
      const http = container().ports.find((port: { name: string }) => port.name === 'http');
      assert.equal(http.containerPort, serviceConfig().port);
      assert.equal(String(http.containerPort), dockerfile.env.TOKLIP_PORT);
      assert.deepEqual(container().readinessProbe.httpGet, { path: '/readyz', port: 'http' });
      assert.deepEqual(container().livenessProbe.httpGet, { path: '/healthz', port: 'http' });
      assert.deepEqual(container().startupProbe.httpGet, { path: '/healthz', port: 'http' });
    });

    it('gives the drain its time: preStop delay + shutdown grace fit in the pod grace period', () => {
      const preStop = container().lifecycle.preStop.exec.command as string[];
      assert.equal(preStop[0], 'sleep');
      const preStopSeconds = Number(preStop[1]);
      const { shutdownGraceMs, requestTimeoutMs } = serviceConfig();
      assert.ok(preStopSeconds >= 3, 'endpoint removal needs a few seconds to propagate');
      assert.ok(shutdownGraceMs >= requestTimeoutMs, 'an admitted request may run to its deadline');
      const needed = preStopSeconds + shutdownGraceMs / 1000 + 5;
      assert.ok(
        podSpec().terminationGracePeriodSeconds >= needed,
        `grace ${podSpec().terminationGracePeriodSeconds}s < ${preStopSeconds}s preStop + ${shutdownGraceMs / 1000}s drain + 5s`,
      );
    });

    it('caches results in memory, and in Redis once the optional toklip-cache Secret names one', () => {
      assert.ok(serviceConfig().cache.memoryBytes > 0);
      assert.equal(serviceConfig().cache.redis, undefined, 'no Redis without the Secret');
      const redisUrl = container().env.find((entry: { name: string }) => entry.name === 'TOKLIP_CACHE_REDIS_URL');
      assert.deepEqual(redisUrl.valueFrom, { secretKeyRef: { name: 'toklip-cache', key: 'redis-url', optional: true } });
      const withSecret = loadConfig({ ...env(), TOKLIP_CACHE_REDIS_URL: 'redis://:pw@redis.cache.svc:6379/0' }, [], { cpuCount: 4, cwd: '/app' });
      assert.equal(withSecret.cache.redis?.url, 'redis://:pw@redis.cache.svc:6379/0');
      assert.equal(serviceConfig().tracing.enabled, false, 'tracing off until OTEL_* settings are added');
    });

    it('runs as the image user, non-root, read-only root filesystem with a writable /tmp', () => {
      const security = podSpec().securityContext;
      assert.equal(security.runAsNonRoot, true);
      assert.equal(security.runAsUser, uid);
      assert.equal(security.runAsGroup, gid);
      const containerSecurity = container().securityContext;
      assert.equal(containerSecurity.allowPrivilegeEscalation, false);
      assert.equal(containerSecurity.readOnlyRootFilesystem, true);
      assert.deepEqual(containerSecurity.capabilities.drop, ['ALL']);
      const mounts = Object.fromEntries(
        container().volumeMounts.map((mount: { mountPath: string; name: string }) => [mount.mountPath, mount]),
      );
      assert.ok(mounts['/tmp']);
      assert.equal(mounts[serviceConfig().modelsDir]?.readOnly, true);
    });

    it('wires Service, HPA, PDB and ConfigMap to the Deployment', () => {
      const podLabels = deployment().spec.template.metadata.labels;
      const service = only(objects, 'Service');
      assert.ok(matchesLabels(service.spec.selector, podLabels));
      assert.equal(service.spec.sessionAffinity, 'None');
      assert.equal(service.spec.ports[0].targetPort, 'http');
      assert.ok(matchesLabels(deployment().spec.selector.matchLabels, podLabels));

      const pdb = only(objects, 'PodDisruptionBudget');
      assert.ok(matchesLabels(pdb.spec.selector.matchLabels, podLabels));
      const hpa = only(objects, 'HorizontalPodAutoscaler');
      assert.deepEqual(hpa.spec.scaleTargetRef, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment().metadata.name,
      });
      // The HPA owns the replica count; a PDB of one unavailable keeps one pod serving in drains.
      assert.equal(deployment().spec.replicas, undefined);
      assert.equal(pdb.spec.maxUnavailable, 1);
      assert.ok(hpa.spec.minReplicas >= 2);
      assert.equal(deployment().spec.strategy.rollingUpdate.maxUnavailable, 0);

      const configRef = container().envFrom[0].configMapRef.name;
      assert.equal(configRef, config().metadata.name);
      assert.match(configRef, /^toklip-config-[a-z0-9]{10}$/, 'generated name with content hash');
      assert.equal(
        podSpec().volumes.find((volume: { name: string }) => volume.name === 'models').persistentVolumeClaim.claimName,
        only(objects, 'PersistentVolumeClaim').metadata.name,
      );
    });

    if (overlay === 'overlays/gpu') {
      it('asks for one NVIDIA GPU and runs the CUDA image', () => {
        assert.equal(container().resources.limits['nvidia.com/gpu'], 1);
        assert.equal(container().image, 'toklip-serve:cuda');
        assert.equal(serviceConfig().device.kind, 'auto');
        assert.ok(podSpec().tolerations.some((toleration: { key: string }) => toleration.key === 'nvidia.com/gpu'));
        const metrics = only(objects, 'HorizontalPodAutoscaler').spec.metrics;
        const pods = metrics.find((metric: { type: string }) => metric.type === 'Pods');
        assert.equal(pods.pods.metric.name, 'toklip_queue_depth');
      });
    } else {
      it('runs the CPU image without GPUs, with workers x threads within the CPU limit', () => {
        assert.equal(container().resources.limits['nvidia.com/gpu'], undefined);
        assert.equal(container().image, 'toklip-serve:cpu');
        const { device, workers, intraOpThreads } = serviceConfig();
        assert.equal(device.kind, 'cpu');
        const cpus = Number(container().resources.limits.cpu);
        assert.ok(workers * intraOpThreads <= cpus, `${workers} workers x ${intraOpThreads} threads > ${cpus} CPUs`);
      });
    }
  });
}

describe('docker/k8s', { skip }, () => {
  it('renders the GPU overlay by default', () => {
    assert.deepEqual(render(''), render('overlays/gpu'));
  });
});

// The CUDA image against onnxruntime-node's CUDA provider: the Dockerfile's CUDA base image must
// carry the CUDA and cuDNN majors the provider of the installed onnxruntime-node is built for,
// the image must install that provider, and scripts/gpu-check.sh must look for those libraries.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readDockerfile, REPO_ROOT } from './dockerfile.js';
import { disagreements, parseCudaBase, providerNeeds, readRequirementsData } from './cuda-requirements.js';

const data = readRequirementsData();
const dockerfile = readDockerfile();
const needs = providerNeeds(data);
const base = parseCudaBase(dockerfile.args.CUDA_BASE ?? '', data);

describe('CUDA image and onnxruntime-node CUDA provider', () => {
  it('reads the provider\'s needs from the installed onnxruntime-node', () => {
    assert.equal(needs.onnxruntimeVersion, data.onnxruntimeNode);
    assert.deepEqual([needs.cudaMajor, needs.installFlag, needs.cudnnMajor], [12, 'cuda12', 9]);
  });

  it('reads CUDA and cuDNN versions from the Dockerfile\'s CUDA base image', () => {
    assert.deepEqual([base.cuda, base.cudaMajor, base.cudnnMajor], ['12.8.1', 12, 9]);
  });

  it('agree: the base image has the CUDA and cuDNN majors the provider needs', () => {
    assert.deepEqual(disagreements(base, needs, data), []);
  });

  it('would disagree with a CUDA 13 base, a cuDNN 8 base, an unlisted tag or another onnxruntime-node', () => {
    const other = (image: string) => disagreements(parseCudaBase(image, data), needs, data);
    assert.deepEqual(other('docker.io/nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04'), [
      'docker.io/nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 has CUDA 13.0.1, onnxruntime-node 1.30.0\'s CUDA provider needs CUDA 12.x',
      'docker.io/nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 names no cuDNN major and cuda-requirements.json does not list it',
    ]);
    assert.deepEqual(other('docker.io/nvidia/cuda:12.2.2-cudnn8-runtime-ubuntu22.04'), [
      'docker.io/nvidia/cuda:12.2.2-cudnn8-runtime-ubuntu22.04 has cuDNN 8, the CUDA provider needs cuDNN 9',
    ]);
    assert.deepEqual(other('docker.io/nvidia/cuda:12.4.1-cudnn9-runtime-ubuntu22.04'), []);
    assert.match(disagreements(base, { ...needs, onnxruntimeVersion: '1.31.0' }, data)[0] ?? '', /onnxruntime-node is 1\.31\.0 but cuda-requirements\.json describes 1\.30\.0/);
    assert.throws(() => parseCudaBase('docker.io/library/debian:bookworm-slim', data), /is not an nvidia\/cuda/);
  });

  it('installs exactly that provider in the cuda variant (deps-cuda)', () => {
    const installs = [...dockerfile.text.matchAll(/ONNXRUNTIME_NODE_INSTALL=(cuda\d+)/g)].map((m) => m[1]);
    assert.deepEqual(installs, [needs.installFlag]);
  });

  it('has scripts/gpu-check.sh look for the CUDA and cuDNN libraries of those majors', () => {
    const script = readFileSync(new URL('scripts/gpu-check.sh', REPO_ROOT), 'utf8');
    const libs = /for lib in ([^;]+); do/.exec(script)?.[1]?.trim().split(/\s+/) ?? [];
    assert.deepEqual(libs, [`libcudart.so.${needs.cudaMajor}`, `libcublasLt.so.${needs.cudaMajor}`, `libcudnn.so.${needs.cudnnMajor}`]);
    const minCuda = /min_cuda=\$\{TOKLIP_MIN_CUDA:-([\d.]+)\}/.exec(script)?.[1];
    assert.equal(minCuda, data.driver.minCudaVersion);
    assert.equal(data.driver.minCudaVersion, base.cuda.split('.').slice(0, 2).join('.'), 'the driver must support the base image\'s CUDA');
  });
});

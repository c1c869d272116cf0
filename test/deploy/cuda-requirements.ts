// What the CUDA image provides (the Dockerfile's CUDA base image) against what onnxruntime-node's
// CUDA execution provider needs (its install script's manifest, plus onnxruntime's documented
// cuDNN major in cuda-requirements.json), so that a test fails when they disagree.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { REPO_ROOT } from './dockerfile.js';

export interface CudaRequirementsData {
  onnxruntimeNode: string;
  provider: { cudnnMajor: number; source: string };
  baseImages: Record<string, { cuda: string; cudnnMajor: number; source: string }>;
  driver: { minCudaVersion: string; source: string };
}

export interface BaseImage {
  image: string;
  cuda: string;
  cudaMajor: number;
  /** From the tag (cudnnN) or, for tags that name no major, from the data file. */
  cudnnMajor: number | undefined;
}

export interface ProviderNeeds {
  onnxruntimeVersion: string;
  /** The CUDA major of the provider's binaries (manifest "cuda12" -> 12). */
  cudaMajor: number;
  /** ONNXRUNTIME_NODE_INSTALL value that installs them. */
  installFlag: string;
  cudnnMajor: number;
}

export function readRequirementsData(): CudaRequirementsData {
  return JSON.parse(readFileSync(new URL('test/deploy/cuda-requirements.json', REPO_ROOT), 'utf8')) as CudaRequirementsData;
}

const CUDA_TAG = /^(?:docker\.io\/)?nvidia\/cuda:(\d+)\.(\d+)\.(\d+)-cudnn(\d*)-(runtime|devel)-(ubuntu\d+\.\d+|ubi\d+|rockylinux\d+)$/;

/** Reads CUDA and cuDNN versions from an nvidia/cuda image reference. */
export function parseCudaBase(image: string, data: CudaRequirementsData): BaseImage {
  const m = CUDA_TAG.exec(image);
  if (!m) throw new Error(`${image} is not an nvidia/cuda <version>-cudnn[N]-runtime|devel-<os> image`);
  const cuda = `${m[1]}.${m[2]}.${m[3]}`;
  const known = data.baseImages[image];
  return {
    image,
    cuda,
    cudaMajor: Number(m[1]),
    cudnnMajor: m[4] ? Number(m[4]) : known?.cuda === cuda ? known.cudnnMajor : undefined,
  };
}

/** onnxruntime-node's own statement of what its linux/x64 CUDA provider is built against. */
export function providerNeeds(data: CudaRequirementsData): ProviderNeeds {
  const require = createRequire(new URL('package.json', REPO_ROOT));
  const pkg = require('onnxruntime-node/package.json') as { version: string };
  const metadata = require('onnxruntime-node/script/install-metadata.js') as {
    requirements: Record<string, string[]>;
    manifests: Record<string, Record<string, unknown>>;
  };
  const flags = (metadata.requirements['linux/x64'] ?? []).filter((name) => /^cuda\d+$/.test(name));
  if (flags.length !== 1) throw new Error(`onnxruntime-node installs ${JSON.stringify(flags)} for linux/x64, expected one cudaNN manifest`);
  const installFlag = flags[0]!;
  const manifest = metadata.manifests[`linux/x64:${installFlag}`] ?? {};
  if (!Object.keys(manifest).some((file) => file.endsWith('libonnxruntime_providers_cuda.so'))) {
    throw new Error(`manifest linux/x64:${installFlag} does not install libonnxruntime_providers_cuda.so`);
  }
  return { onnxruntimeVersion: pkg.version, cudaMajor: Number(installFlag.slice(4)), installFlag, cudnnMajor: data.provider.cudnnMajor };
}

/** Every way the base image and the provider disagree ([] when they agree). */
export function disagreements(base: BaseImage, needs: ProviderNeeds, data: CudaRequirementsData): string[] {
  const problems: string[] = [];
  if (needs.onnxruntimeVersion !== data.onnxruntimeNode) {
    problems.push(`onnxruntime-node is ${needs.onnxruntimeVersion} but cuda-requirements.json describes ${data.onnxruntimeNode}: re-read its CUDA requirements`);
  }
  if (base.cudaMajor !== needs.cudaMajor) {
    problems.push(`${base.image} has CUDA ${base.cuda}, onnxruntime-node ${needs.onnxruntimeVersion}'s CUDA provider needs CUDA ${needs.cudaMajor}.x`);
  }
  if (base.cudnnMajor === undefined) {
    problems.push(`${base.image} names no cuDNN major and cuda-requirements.json does not list it`);
  } else if (base.cudnnMajor !== needs.cudnnMajor) {
    problems.push(`${base.image} has cuDNN ${base.cudnnMajor}, the CUDA provider needs cuDNN ${needs.cudnnMajor}`);
  }
  return problems;
}

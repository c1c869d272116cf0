/**
 * Which execution provider the workers ask for. onnxruntime-node carries its CUDA provider as
 * a separate shared library that only its GPU install brings (ONNXRUNTIME_NODE_INSTALL=cuda12,
 * the CUDA image). Asking ONNX Runtime for CUDA without it prints a red `[E:onnxruntime...]
 * Failed to load library` line per worker before the fallback: so `auto` looks for the
 * library first and, without it, goes to CPU with one plain log line.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DeviceConfig } from '../config/schema.js';

/** Where onnxruntime-node keeps its native libraries for this platform. */
export function onnxRuntimeBinaryDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

export const CUDA_PROVIDER_LIBRARY = 'libonnxruntime_providers_cuda.so';

/** The CUDA provider library, if this installation has one. */
export function cudaProviderLibrary(): string | undefined {
  const path = join(onnxRuntimeBinaryDir(), CUDA_PROVIDER_LIBRARY);
  return existsSync(path) ? path : undefined;
}

export type DeviceChoice =
  | { readonly provider: 'cpu'; readonly reason: string }
  | { readonly provider: 'cuda'; readonly deviceId: number; readonly fallbackToCpu: boolean };

/** TOKLIP_DEVICE resolved against this installation, before any worker starts. */
export function chooseDevice(device: DeviceConfig, library: string | undefined = cudaProviderLibrary()): DeviceChoice {
  if (device.kind === 'cpu') return { provider: 'cpu', reason: 'TOKLIP_DEVICE=cpu' };
  if (library !== undefined) return { provider: 'cuda', deviceId: device.deviceId, fallbackToCpu: device.kind === 'auto' };
  const missing = `onnxruntime-node has no CUDA provider (${join(onnxRuntimeBinaryDir(), CUDA_PROVIDER_LIBRARY)} is absent; the CUDA image installs it, docs/deploy.md)`;
  if (device.kind === 'cuda') {
    const setting = device.deviceId === 0 ? 'cuda' : `cuda:${device.deviceId}`;
    throw new DeviceError(`TOKLIP_DEVICE=${setting}: the CUDA execution provider did not load: ${missing}`);
  }
  return { provider: 'cpu', reason: missing };
}

export class DeviceError extends Error {
  override name = 'DeviceError';
}

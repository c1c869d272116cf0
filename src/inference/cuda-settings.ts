/**
 * CUDA settings that the Node binding cannot apply. onnxruntime-node (1.30) reads only
 * `deviceId` from a CUDA execution provider entry, so the arena growth strategy and the cuDNN
 * algorithm search stay at ONNX Runtime's defaults whatever they are set to.
 */
import { type DeviceConfig, SettingsSchema, envName } from '../config/schema.js';

const CUDA_SETTINGS = ['cudaArenaExtendStrategy', 'cudaCudnnConvAlgoSearch'] as const;

/** `TOKLIP_X=value` for each such setting that differs from its default (empty when none does). */
export function ineffectiveCudaSettings(device: DeviceConfig): string[] {
  const fallback = (setting: (typeof CUDA_SETTINGS)[number]) => (SettingsSchema.properties[setting] as { default?: unknown }).default;
  return CUDA_SETTINGS.filter((setting) => device[setting] !== fallback(setting)).map((setting) => `${envName(setting)}=${device[setting]}`);
}

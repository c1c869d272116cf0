export { ConfigError, loadConfig, type HostFacts } from './load.js';
export {
  type Config,
  type DeviceConfig,
  type DeviceKind,
  type SettingName,
  type Settings,
  SETTING_NAMES,
  SettingsSchema,
  envName,
  flagName,
} from './schema.js';

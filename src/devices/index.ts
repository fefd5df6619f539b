// Public face of the device registry: registry, credentials, login checks.
export { isLoopback } from './anonymous.ts';
export { DEFAULT_CHANGE_POLL_MS, type OpenDevicesOptions, openDevices } from './registry.ts';
export type {
  AddDeviceOptions,
  AuthRefusal,
  AuthRequest,
  AuthResult,
  DeviceIdentity,
  DeviceInfo,
  DeviceOverrides,
  Devices,
  ThrottleConfig,
} from './types.ts';
export { DEVICE_ID, isValidDeviceId, isValidTopicFilter } from './validate.ts';

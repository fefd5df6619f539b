// Public face of the device registry: registry, credentials, login checks.
export { type OpenDevicesOptions, openDevices } from './registry.ts';
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

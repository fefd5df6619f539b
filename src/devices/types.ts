/**
 * Public types of the device registry (src/devices). Implementation in registry.ts; see index.ts.
 */
import type { Config } from '../config/index.ts';

/** Per-device additions to the global config. */
export interface DeviceOverrides {
  /** Extra MQTT topic patterns (filters, `+`/`#` allowed) this device may publish to. */
  topics?: string[];
  /** Replaces the global per-device publish rate for this device. */
  rate?: { perSecond: number; burst: number };
}

/** What callers see of a device. Never carries the credential. */
export interface DeviceInfo {
  id: string;
  enabled: boolean;
  /** A scrypt password hash is stored. */
  hasPassword: boolean;
  /** TLS client certificate CN/SAN accepted besides the id itself. */
  certCn?: string;
  overrides?: DeviceOverrides;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms of the last add/enable/disable. */
  updatedAt: number;
}

export interface AddDeviceOptions {
  password?: string;
  certCn?: string;
  overrides?: DeviceOverrides;
}

export interface DeviceIdentity {
  /** null for anonymous clients. */
  deviceId: string | null;
  anonymous: boolean;
  overrides?: DeviceOverrides;
}

export type AuthRefusal =
  | 'unknown-device'
  | 'bad-credentials'
  | 'disabled'
  | 'throttled'
  | 'anonymous-refused'
  | 'cert-mismatch';

export type AuthResult = { ok: true; identity: DeviceIdentity } | { ok: false; reason: AuthRefusal };

export interface AuthRequest {
  /** MQTT client identifier (logged only; identity comes from username or certificate). */
  clientId: string;
  /** MQTT CONNECT user name = device id for password logins. */
  username?: string;
  password?: Buffer;
  /**
   * CN and SAN (DNS, URI, email) entries of a client certificate the TLS layer has VERIFIED
   * (socket.authorized). Never pass identities of an unverified certificate.
   */
  certIdentities?: string[];
  remoteAddress: string;
  allowAnonymous: boolean | 'loopback';
}

export type ThrottleConfig = Config['mqtt']['authThrottle'];

export interface Devices {
  add(id: string, options: AddDeviceOptions): Promise<DeviceInfo>;
  get(id: string): DeviceInfo | undefined;
  list(): DeviceInfo[];
  setEnabled(id: string, enabled: boolean): Promise<void>;
  remove(id: string): Promise<void>;
  authenticate(req: AuthRequest): Promise<AuthResult>;
  /** Fires with the device id after any change, made by this process or another (polled ~1 s). */
  onChange(cb: (deviceId: string) => void): () => void;
  setThrottle(cfg: ThrottleConfig): void;
  close(): void;
}

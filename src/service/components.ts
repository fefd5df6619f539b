/** The modules the service composes, each from its folder's public face. */
import { type Devices, openDevices } from '../devices/index.ts';
import { type Ingest, startIngest } from '../ingest/index.ts';
import { type OpenLog, openLog } from '../log/index.ts';
import { type Mirror, openOffsetIndex, startMirror, startMirrorThread } from '../mirror/index.ts';

export type DevicesLike = Devices;
export type IngestLike = Ingest;
export type MirrorLike = Mirror;

export interface Modules {
  openLog: OpenLog;
  openDevices: typeof openDevices;
  startIngest: typeof startIngest;
  startMirror: typeof startMirror;
  startMirrorThread: typeof startMirrorThread;
  openOffsetIndex: typeof openOffsetIndex;
}

export function loadModules(): Modules {
  return { openLog, openDevices, startIngest, startMirror, startMirrorThread, openOffsetIndex };
}

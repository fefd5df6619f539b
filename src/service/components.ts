/** The modules the service composes, each from its folder's public face. */
import { type Devices, openDevices } from '../devices/index.ts';
import { type Ingest, startIngest } from '../ingest/index.ts';
import { type OpenLog, openLog } from '../log/index.ts';
import {
  type Downlink,
  type Mirror,
  openOffsetIndex,
  startCommands,
  startMirror,
  startMirrorThread,
} from '../mirror/index.ts';

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
  startCommands: typeof startCommands;
  /**
   * The seam between MQTT ingest and the command consumer: the running ingest's Downlink, or null
   * when this ingest offers none. The service starts the command consumer only with a downlink.
   */
  downlinkOf: (ingest: IngestLike) => Downlink | null;
}

/** The running ingest's Downlink (null while `mqtt.sessions` is off). */
export function ingestDownlink(ingest: IngestLike): Downlink | null {
  return ingest.downlink();
}

export function loadModules(): Modules {
  return {
    openLog,
    openDevices,
    startIngest,
    startMirror,
    startMirrorThread,
    openOffsetIndex,
    startCommands,
    downlinkOf: ingestDownlink,
  };
}

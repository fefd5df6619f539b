/**
 * Startup checks. Each failure is one OutpostError whose message is the one line the operator sees.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { OutpostError } from '../errors.ts';

/** Creates the data dir if needed and proves we can write and fsync a file in it. */
export function checkDataDirWritable(dataDir: string): void {
  const probe = join(dataDir, `.write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(dataDir, { recursive: true });
    const fd = openSync(probe, 'wx');
    try {
      writeSync(fd, 'ok');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new OutpostError(
      'DATA_DIR_NOT_WRITABLE',
      `data dir ${dataDir} is not writable (${code}); check its owner and permissions`,
      { path: dataDir, reason: code, cause: err },
    );
  }
}

export interface Endpoint {
  what: string;
  host: string;
  port: number;
}

/** Every fixed TCP port the service will bind (port 0 = any free port: nothing to check). */
export function endpointsOf(config: Config): Endpoint[] {
  const out: Endpoint[] = [];
  for (const l of config.mqtt.listeners) {
    if (l.port !== 0) out.push({ what: `mqtt ${l.type} listener`, host: l.host, port: l.port });
  }
  if (config.http.port !== 0)
    out.push({ what: 'http admin', host: config.http.host, port: config.http.port });
  return out;
}

export function portInUse(e: Endpoint, cause?: unknown): OutpostError {
  return new OutpostError(
    'PORT_IN_USE',
    `${e.what} port ${e.host}:${e.port} is already in use; stop the other program or change the port`,
    { reason: `${e.host}:${e.port}`, cause },
  );
}

function probePort(e: Endpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(portInUse(e, err));
      else if (err.code === 'EACCES') {
        reject(
          new OutpostError('PORT_IN_USE', `${e.what} cannot bind ${e.host}:${e.port}: permission denied`, {
            reason: `${e.host}:${e.port}`,
            cause: err,
          }),
        );
      } else
        reject(new OutpostError('PORT_IN_USE', `${e.what} cannot bind ${e.host}:${e.port}: ${err.message}`));
    });
    server.listen({ host: e.host, port: e.port, exclusive: true }, () => server.close(() => resolve()));
  });
}

export async function checkPortsFree(config: Config): Promise<void> {
  for (const e of endpointsOf(config)) await probePort(e);
}

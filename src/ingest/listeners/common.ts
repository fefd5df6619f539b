/** What every listener hands to the broker, and what it returns to the ingest module. */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { OutpostError } from '../../errors.ts';

export type ListenerType = 'tcp' | 'tls' | 'ws';

export interface ConnectionMeta {
  listener: ListenerType;
  remoteAddress: string;
  /** CN and SAN entries of a client certificate the TLS layer verified (socket.authorized). */
  certIdentities?: string[];
}

/** Hands a new connection to the broker. */
export type Accept = (stream: Duplex, meta: ConnectionMeta, req?: IncomingMessage) => void;

export interface Listener {
  type: ListenerType;
  host: string;
  /** The port actually bound (config may say 0). */
  port: number;
  /** Stops accepting; open connections stay until the broker closes them. */
  close(): Promise<void>;
}

/** listen() with errors turned into OutpostError (PORT_IN_USE names host:port). */
export function listen(
  server: NetServer | HttpServer,
  type: ListenerType,
  host: string,
  port: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const code = err.code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'LISTENER_FAILED';
      reject(
        new OutpostError(code, `cannot listen for MQTT (${type}) on ${host}:${port}: ${err.message}`, {
          cause: err,
          reason: err.code ?? 'listen failed',
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/**
 * Stops accepting. Does not wait for open connections: server.close()'s callback only fires once
 * they have all ended, and the broker closes them later, after draining in-flight appends.
 */
export function closeServer(server: NetServer | HttpServer): Promise<void> {
  if (server.listening) server.close();
  return Promise.resolve();
}

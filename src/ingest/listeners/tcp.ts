/** Plain MQTT over TCP (MQTT 3.1.1 §4.2: TCP/IP, default port 1883). */
import { createServer } from 'node:net';
import type { ListenerConfig } from '../../config/index.ts';
import { type Accept, closeServer, type Listener, listen } from './common.ts';

export async function listenTcp(
  cfg: Extract<ListenerConfig, { type: 'tcp' }>,
  accept: Accept,
): Promise<Listener> {
  // TCP keepalive: the only liveness check for clients that connect with MQTT keepalive 0.
  const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) => {
    accept(socket, { listener: 'tcp', remoteAddress: socket.remoteAddress ?? '' });
  });
  const port = await listen(server, 'tcp', cfg.host, cfg.port);
  return { type: 'tcp', host: cfg.host, port, close: () => closeServer(server) };
}

/** MQTT over WebSocket (MQTT 3.1.1 §6.0: binary frames, subprotocol "mqtt"), via the `ws` package. */
import { createServer } from 'node:http';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { ListenerConfig } from '../../config/index.ts';
import { type Accept, closeServer, type Listener, listen } from './common.ts';

export async function listenWs(
  cfg: Extract<ListenerConfig, { type: 'ws' }>,
  accept: Accept,
): Promise<Listener> {
  const http = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
  });
  const wss = new WebSocketServer({
    server: http,
    path: cfg.path,
    // [MQTT-6.0.0-3]/[MQTT-6.0.0-4]: the subprotocol is "mqtt" (3.1.1) or "mqttv3.1" (3.1).
    handleProtocols: (protocols) => {
      for (const p of ['mqtt', 'mqttv3.1']) if (protocols.has(p)) return p;
      return false;
    },
  });
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws);
    stream.on('error', () => ws.terminate());
    req.socket.setNoDelay(true);
    accept(stream, { listener: 'ws', remoteAddress: req.socket.remoteAddress ?? '' }, req);
  });
  const port = await listen(http, 'ws', cfg.host, cfg.port);
  return {
    type: 'ws',
    host: cfg.host,
    port,
    close: async () => {
      wss.close(); // external server: open WebSockets stay until the broker closes them
      await closeServer(http);
    },
  };
}

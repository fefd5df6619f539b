/**
 * Bare aedes 1.x on a free loopback port, with the options and publish short-cut `outpost run`
 * uses, acknowledging QoS 1 from memory (no routing, no log). Forked by startAedes
 * (bench/lib/brokers.ts); it reports its port over IPC and exits on SIGTERM.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const broker = new Aedes({
  id: 'bench',
  concurrency: 1000,
  heartbeatInterval: 60_000,
  authorizePublish: (_client, packet, cb) => {
    packet.retain = false;
    cb(null);
  },
});
await broker.listen();
const brokerPublish = broker.publish.bind(broker) as unknown as (p: unknown, c: unknown, d: unknown) => void;
broker.publish = ((packet: unknown, client: unknown, done?: (err?: Error | null) => void) => {
  if (client === null || client === undefined || typeof client === 'function')
    brokerPublish(packet, client, done);
  else done?.(null);
}) as unknown as typeof broker.publish;
const server = createServer((socket) => broker.handle(socket as never));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const a = server.address();
process.send?.({ type: 'listening', port: typeof a === 'object' && a ? a.port : 0 });
process.once('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});

/**
 * The "second broker next to Outpost" peer of bench:commands: a plain @platformatic/kafka consumer
 * that publishes each record to Mosquitto, QoS 1, on devices/<key>/commands, awaiting each PUBACK
 * (in record order, one at a time), as a small bridge script would. Run as its own process:
 *
 *   node bench/peers/kafka-mosquitto/bridge.ts BOOTSTRAP TOPIC MQTT_PORT
 *
 * It prints "ready" once consuming and exits on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { Consumer } from '@platformatic/kafka';
import mqtt from 'mqtt';

const [bootstrap, topic, port] = process.argv.slice(2) as [string, string, string];
const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bridge', clean: true });
const consumer = new Consumer({
  clientId: 'bridge',
  groupId: `bridge-${randomUUID()}`,
  bootstrapBrokers: [bootstrap],
  autocommit: false,
  maxWaitTime: 100,
});
const stream = await consumer.consume({
  topics: [topic],
  mode: 'earliest',
  autocommit: false,
  maxWaitTime: 100,
});
process.once('SIGTERM', () => {
  void stream.close().finally(() => process.exit(0));
});
process.stdout.write('ready\n');
for await (const m of stream) {
  await client.publishAsync(`devices/${m.key?.toString() ?? ''}/commands`, m.value as Buffer, { qos: 1 });
}

/**
 * ActiveMQ Artemis as the benchmarks' durable peer: a broker whose MQTT PUBACK, like Outpost's,
 * waits until the message is on disk. Artemis persists a QoS 1 PUBLISH to every durable queue it
 * routes to and acknowledges once its journal has been synced (fdatasync with the NIO journal,
 * `journal-datasync` true).
 *
 * The instance is made fresh in `dir` by `artemis create --nio` from the distribution that
 * fetch.sh caches in ~/.cache/outpost (Maven Central, org.apache.activemq:apache-artemis, bin
 * tar.gz; Java 17), then its broker.xml is changed:
 *   - one MQTT acceptor and the core acceptor, both on free 127.0.0.1 ports (no web console, no
 *     AMQP/STOMP/HornetQ acceptors);
 *   - journal-sync-transactional and journal-sync-non-transactional true (stated, not left to the
 *     defaults);
 *   - thread-pool-max-size 256: with the default (30), 100 concurrent CONNECTs fail with AMQ850000;
 *   - a durable multicast queue on the wildcard address `vehicles.#`, which receives every
 *     `vehicles/...` topic the benchmarks publish to (Artemis maps MQTT `/` to `.`). Without a
 *     bound queue a PUBLISH reaches no queue and nothing is written, so the peer would not be
 *     durable.
 *
 * Run alone (`npm run bench:artemis`) it starts the broker, prints its port and waits for Ctrl-C.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Broker, waitForMqtt } from '../../lib/brokers.ts';
import { freePort } from '../../lib/proc.ts';
import { managedStop, stopOnSignal } from '../../lib/stop-on-signal.ts';

/** The queue every benchmark publish is routed to. */
export const ARTEMIS_QUEUE = 'bench-durable';
const ADDRESS = 'vehicles.#';

/** The unpacked distribution (fetched on first use). */
export function artemisHome(): string {
  const out = execFileSync(join(import.meta.dirname, 'fetch.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const home = out.trim().split('\n').at(-1);
  if (!home) throw new Error('bench/peers/artemis/fetch.sh printed no Artemis home');
  return home;
}

/** broker.xml as `artemis create` wrote it, changed as the header says. */
export function configureBroker(xml: string, ports: { mqtt: number; core: number }): string {
  const replace = (from: RegExp, to: string): void => {
    if (!from.test(xml))
      throw new Error(`Artemis broker.xml: ${from} not found; did the layout of artemis create change?`);
    xml = xml.replace(from, to);
  };
  replace(
    /<acceptors>[\s\S]*?<\/acceptors>/,
    [
      '<acceptors>',
      `         <acceptor name="artemis">tcp://127.0.0.1:${ports.core}?protocols=CORE;useEpoll=true</acceptor>`,
      `         <acceptor name="mqtt">tcp://127.0.0.1:${ports.mqtt}?tcpSendBufferSize=1048576;tcpReceiveBufferSize=1048576;protocols=MQTT;useEpoll=true</acceptor>`,
      '      </acceptors>',
    ].join('\n'),
  );
  replace(
    /<journal-type>NIO<\/journal-type>/,
    [
      '<journal-type>NIO</journal-type>',
      '      <journal-sync-transactional>true</journal-sync-transactional>',
      '      <journal-sync-non-transactional>true</journal-sync-non-transactional>',
      '      <thread-pool-max-size>256</thread-pool-max-size>',
    ].join('\n'),
  );
  replace(
    /<addresses>/,
    [
      '<addresses>',
      `         <address name="${ADDRESS}">`,
      '            <multicast>',
      `               <queue name="${ARTEMIS_QUEUE}"><durable>true</durable></queue>`,
      '            </multicast>',
      '         </address>',
    ].join('\n'),
  );
  return xml;
}

export async function startArtemis(dir: string): Promise<Broker> {
  const home = artemisHome();
  const instance = join(dir, 'artemis');
  const [mqttPort, corePort] = [await freePort(), await freePort()];
  execFileSync(
    join(home, 'bin/artemis'),
    [
      'create',
      instance,
      '--nio',
      '--host',
      '127.0.0.1',
      '--default-port',
      String(corePort),
      '--allow-anonymous',
      '--user',
      'bench',
      '--password',
      'bench',
      '--silent',
      '--no-web',
      '--no-amqp-acceptor',
      '--no-hornetq-acceptor',
      '--no-stomp-acceptor',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const brokerXml = join(instance, 'etc/broker.xml');
  writeFileSync(
    brokerXml,
    configureBroker(readFileSync(brokerXml, 'utf8'), { mqtt: mqttPort, core: corePort }),
  );
  // bin/artemis execs the JVM, so the child's pid is the broker's own (its /proc/PID/io).
  const child = spawn(join(instance, 'bin/artemis'), ['run'], { stdio: ['ignore', 'ignore', 'inherit'] });
  // SIGTERM runs the JVM's shutdown hook, which stops the broker and closes its journal.
  const stop = managedStop('artemis', child);
  const broker: Broker = {
    name: 'artemis',
    label: 'durable: journal fdatasync before PUBACK',
    pid: child.pid!,
    port: mqttPort,
    stop,
  };
  try {
    await waitForMqtt(mqttPort, 120_000, 'artemis');
  } catch (err) {
    await stop();
    throw err;
  }
  return broker;
}

/** Messages in the durable queue, from the core acceptor (`artemis queue stat`). */
export function artemisQueueCount(dir: string): number | null {
  const instance = join(dir, 'artemis');
  try {
    const out = execFileSync(
      join(instance, 'bin/artemis'),
      ['queue', 'stat', '--silent', '--user', 'bench', '--password', 'bench', '--queueName', ARTEMIS_QUEUE],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const row = out
      .split('\n')
      .find((l) => l.includes(`|${ARTEMIS_QUEUE}`) || l.includes(`| ${ARTEMIS_QUEUE}`));
    const cells = row?.split('|').map((c) => c.trim());
    // columns: NAME | ADDRESS | CONSUMER_COUNT | MESSAGE_COUNT | ...
    const n = cells ? Number(cells[4]) : Number.NaN;
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-artemis-'));
  let broker: Broker | undefined;
  // Ctrl-C/SIGTERM stops the broker (its own registration) and then removes the instance.
  stopOnSignal('artemis instance dir', async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  broker = await startArtemis(dir);
  process.stdout.write(
    `artemis (pid ${broker.pid}) MQTT on 127.0.0.1:${broker.port}, instance ${dir}; Ctrl-C stops it\n`,
  );
  // Keep the process alive until the signal handler exits it.
  setInterval(() => {}, 3_600_000);
}

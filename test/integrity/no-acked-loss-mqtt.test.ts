/**
 * Invariant: an MQTT PUBACK from Outpost means the message is durable.
 *
 * Publishers (half MQTT 3.1.1, half MQTT 5) send QoS 1 messages carrying a per-device sequence number (bounded window) and record
 * every PUBACK. The test runs the real service (`node src/cli/main.ts run --config …`), kills it
 * with SIGKILL at random moments at least 10 times, restarts it, and finally checks the log:
 *   - every acknowledged message is there;
 *   - per device, first occurrences are 0, 1, 2, … with no gaps or reordering;
 *   - a message appears more than once only if the publisher resent it (it had no PUBACK), and
 *     each resend run restarts at or below what was already written (never reorders).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, onTestFinished, test } from 'vitest';
import { type LogRecord, openLog } from '../../src/log/index.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const KILLS = Number(process.env['KILLS'] ?? 10);
const DEVICES = 6;
const WINDOW = 16;

class Publisher {
  readonly id: string;
  readonly protocolVersion: 4 | 5;
  /** Contiguous prefix of acknowledged sequence numbers (PUBACKs arrive in order [MQTT-4.6.0-2]). */
  ackedUpTo = 0;
  acked = new Set<number>();
  /** Highest sequence number ever sent + 1. */
  sentMax = 0;
  resent = new Set<number>();
  /** Sequence numbers stop here; unbounded while the service is being killed. */
  limit = Number.POSITIVE_INFINITY;
  #client: MqttClient | null = null;

  constructor(id: string, protocolVersion: 4 | 5) {
    this.id = id;
    this.protocolVersion = protocolVersion;
  }

  done(): boolean {
    return this.ackedUpTo >= this.limit;
  }

  attach(port: number): void {
    this.detach();
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: this.id,
      protocolVersion: this.protocolVersion,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      clean: true,
    });
    this.#client = client;
    client.on('error', () => {});
    client.once('connect', () => {
      // Resend everything sent before without a PUBACK, in order, then continue.
      let next = this.ackedUpTo;
      let inflight = 0;
      const pump = (): void => {
        while (inflight < WINDOW && next < this.limit && this.#client === client && client.connected) {
          const seq = next++;
          if (seq < this.sentMax) this.resent.add(seq);
          this.sentMax = Math.max(this.sentMax, seq + 1);
          inflight++;
          client.publish(`vehicles/${this.id}/telemetry/seq`, String(seq), { qos: 1 }, (err) => {
            inflight--;
            if (err) return; // no PUBACK, or (MQTT 5) a PUBACK with a refusal code: not acknowledged
            this.acked.add(seq);
            while (this.acked.has(this.ackedUpTo)) this.ackedUpTo++;
            pump();
          });
        }
      };
      pump();
    });
  }

  detach(): void {
    this.#client?.end(true);
    this.#client = null;
  }
}

interface Service {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
}

async function startService(configPath: string): Promise<Service> {
  const child = spawn(process.execPath, [MAIN, 'run', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; listeners?: Array<{ port: number }> };
        if (j.msg === 'MQTT ingest listening' && j.listeners?.[0]) resolve(j.listeners[0].port);
      } catch {}
    });
    exited.then((code) => reject(new Error(`service exited (${code}) before listening: ${stderr}`)));
  });
  return { child, port, exited };
}

function readAll(records: LogRecord[], log: Awaited<ReturnType<typeof openLog>>, topic: string): void {
  for (let p = 0; p < log.partitionCount(topic); p++) {
    for (let off = log.offsets(topic, p).startOffset; ; ) {
      const batch = log.read(topic, p, off, { maxRecords: 5000 });
      if (batch.length === 0) break;
      records.push(...batch);
      off = (batch.at(-1) as LogRecord).offset + 1;
    }
  }
}

describe('integrity › no acknowledged MQTT message is lost', () => {
  test(`integrity › every PUBACKed message survives ${KILLS} kill -9 restarts of outpost run, in per-device order, over MQTT 3.1.1 and 5`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-noloss-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        edgeId: 'noloss',
        dataDir: join(dir, 'data'),
        log: { topics: { telemetry: { partitions: 3 } }, minFreeBytes: 0 },
        mqtt: {
          listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
          allowAnonymous: 'loopback',
          limits: { publishRate: { perSecond: 100_000, burst: 100_000 } },
        },
        routes: [{ match: 'vehicles/{deviceId}/telemetry/#', topic: 'telemetry', key: '{deviceId}' }],
        http: { host: '127.0.0.1', port: 0 },
        logging: { level: 'info' },
      }),
    );
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'data'));
    const pubs = Array.from({ length: DEVICES }, (_, i) => new Publisher(`dev${i}`, i % 2 === 0 ? 4 : 5));
    let current: Service | null = null;
    onTestFinished(() => {
      for (const p of pubs) p.detach();
      current?.child.kill('SIGKILL');
    });

    const ackedAtKill: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      current = await startService(configPath);
      const before = pubs.map((p) => p.ackedUpTo);
      for (const p of pubs) p.attach(current.port);
      // Kill at a random moment once this run's stream flows: its first new PUBACK can take a few
      // hundred ms after "listening" on a loaded machine (a fixed delay sometimes killed before it).
      await expect
        .poll(() => pubs.some((p, i) => p.ackedUpTo > (before[i] as number)), {
          timeout: 20_000,
          interval: 5,
        })
        .toBe(true);
      await new Promise((r) => setTimeout(r, Math.random() * 900));
      current.child.kill('SIGKILL');
      await current.exited;
      for (const p of pubs) p.detach();
      ackedAtKill.push(pubs.reduce((n, p) => n + p.ackedUpTo, 0));
    }
    // Final run: let every publisher finish, then stop gracefully.
    current = await startService(configPath);
    for (const p of pubs) {
      p.limit = p.sentMax + 200;
      p.attach(current.port);
    }
    await expect.poll(() => pubs.every((p) => p.done()), { timeout: 120_000, interval: 200 }).toBe(true);
    for (const p of pubs) p.detach();
    current.child.kill('SIGTERM');
    expect(await current.exited).toBe(0);

    const log = await openLog({
      dataDir: join(dir, 'data'),
      topics: { telemetry: { partitions: 3, retentionMs: 86_400_000, retentionBytes: 1024 ** 3 } },
      maxBytes: 8 * 1024 ** 3,
      onFull: 'reject',
      role: 'reader',
    });
    onTestFinished(() => log.close());
    const records: LogRecord[] = [];
    readAll(records, log, 'telemetry');
    const bySeq = new Map<string, number[]>();
    for (const r of records.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      const id = r.key?.toString() ?? '?';
      bySeq.set(id, [...(bySeq.get(id) ?? []), Number(r.value.toString())]);
    }
    let duplicates = 0;
    for (const p of pubs) {
      const seqs = bySeq.get(p.id) ?? [];
      const present = new Set(seqs);
      for (const a of p.acked) expect(present.has(a), `${p.id} acked ${a} is in the log`).toBe(true);
      let max = -1;
      for (const s of seqs) {
        if (s > max) {
          expect(s, `${p.id}: first occurrences have no gap or reordering`).toBe(max + 1);
          max = s;
        } else {
          duplicates++;
          expect(p.resent.has(s), `${p.id}: duplicate ${s} was a resend of an unacknowledged message`).toBe(
            true,
          );
        }
      }
      // runs: each record follows its predecessor by +1, or restarts a resend run at or below max
      for (let i = 1; i < seqs.length; i++) {
        const prev = seqs[i - 1] as number;
        const cur = seqs[i] as number;
        if (cur !== prev + 1)
          expect(p.resent.has(cur), `${p.id}: a new run starts at a resent message`).toBe(true);
      }
      expect(max).toBe(p.limit - 1);
    }
    console.log(
      `no-acked-loss: ${KILLS} kills (acked so far at each: ${ackedAtKill.join(', ')}), ${records.length} records, ${duplicates} resent duplicates`,
    );
    // every run took new PUBACKs before its kill (the kills landed mid-stream)
    expect(ackedAtKill.every((n, i) => n > (ackedAtKill[i - 1] ?? 0))).toBe(true);
  }, 240_000);
});

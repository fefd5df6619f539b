/**
 * Bytes the log stores per message for the simulator's set-top box and vehicle payloads, for each
 * record-v2 codec, against the same batches uncompressed (raw), through a real log:
 *
 *   node bench/codec-sizes.ts [--devices N] [--messages N] [--per-commit 10,100]
 *
 * Each device publishes `messages` JSON payloads (src/sim generators, fixed seed) with the headers
 * the ingest adds (mqtt.topic, mqtt.qos, mqtt.retain, client.id, device.id), keyed by device id,
 * appended `per-commit` at a time (one batch per partition and commit), stamped as a mirroring
 * gateway stores them (`--stamp ""`: unstamped). Sizes only: no timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AppendRecord, COMPRESSIONS, openLog } from '../src/log/index.ts';
import { createGenerator, type DeviceKind, fleetIds } from '../src/sim/index.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '50' },
    messages: { type: 'string', default: '40' },
    'per-commit': { type: 'string', default: '1,10,100' },
    /** The log's stamp (a mirroring gateway's edgeId); "" for a gateway that mirrors nothing. */
    stamp: { type: 'string', default: 'gw-stb-0042' },
  },
});

function messages(kind: DeviceKind): AppendRecord[] {
  const out: AppendRecord[] = [];
  const gens = fleetIds(kind, Number(args.devices)).map((id) =>
    createGenerator(kind, id, { seed: 42, run: 'codec-sizes' }),
  );
  let now = 1_760_000_000_000;
  for (let m = 0; m < Number(args.messages); m++) {
    for (const g of gens) {
      now += 37;
      const msg = g.next(now);
      const id = Buffer.from(g.deviceId);
      out.push({
        topic: 't',
        key: id,
        value: Buffer.from(JSON.stringify(msg.payload)),
        timestamp: now,
        headers: {
          'mqtt.topic': Buffer.from(msg.topic),
          'mqtt.qos': Buffer.from('1'),
          'mqtt.retain': Buffer.from('0'),
          'client.id': id,
          'device.id': id,
        },
      });
    }
  }
  return out;
}

console.log(
  `${args.devices} devices x ${args.messages} messages each, 4 partitions; bytes per message (stored | raw = same batches uncompressed | raw/stored)`,
);
for (const kind of ['stb', 'vehicle'] as const) {
  const all = messages(kind);
  const payload = all.reduce((n, r) => n + r.value.length, 0) / all.length;
  console.log(`\n${kind}: JSON payload ${payload.toFixed(0)} B/message on average`);
  for (const perCommit of (args['per-commit'] ?? '10').split(',').map(Number)) {
    const cells: string[] = [];
    for (const codec of COMPRESSIONS) {
      const dir = mkdtempSync(join(tmpdir(), 'outpost-codec-sizes-'));
      try {
        const log = await openLog({
          dataDir: dir,
          topics: { t: { partitions: 4, retentionMs: 1e12, retentionBytes: 1e15, compression: codec } },
          maxBytes: 1e15,
          onFull: 'reject',
          minFreeBytes: 0,
          ...(args.stamp ? { stamp: { id: args.stamp } } : {}),
        });
        for (let i = 0; i < all.length; i += perCommit) await log.append(all.slice(i, i + perCommit));
        const parts = log.partitions();
        const stored = parts.reduce((n, p) => n + p.bytes, 0) / all.length;
        const raw = parts.reduce((n, p) => n + p.rawBytes, 0) / all.length;
        cells.push(`${codec} ${stored.toFixed(0)} | ${raw.toFixed(0)} | ${(raw / stored).toFixed(2)}x`);
        await log.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    console.log(`  ${String(perCommit).padStart(3)} msgs/commit: ${cells.join('   ')}`);
  }
}

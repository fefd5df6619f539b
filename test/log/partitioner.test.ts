import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { murmur2, partitionFor, toPositive } from '../../src/log/index.ts';
import { runJava } from '../kafka/java.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PARTITIONS = 37;

function keys(): Buffer[] {
  const out: Buffer[] = [Buffer.alloc(0)];
  for (const s of [
    'a',
    'ab',
    'abc',
    'abcd',
    'abcde',
    'device-0001',
    'vehicles/VIN123/telemetry',
    '21',
    'kafka',
  ]) {
    out.push(Buffer.from(s));
  }
  for (const s of ['ñandú', '東京', '🚗🚙', 'Grüße aus Köln', 'ß']) out.push(Buffer.from(s, 'utf8'));
  for (let len = 1; len <= 64; len++) for (let i = 0; i < 4; i++) out.push(randomBytes(len));
  for (let i = 0; i < 20; i++) out.push(randomBytes(100 + i * 37));
  for (let i = 0; i < 8; i++) out.push(Buffer.alloc(i + 1, 0xff)); // high bytes: sign handling
  return out;
}

test('partitioner › murmur2 and partitionFor match Kafka Java Utils.murmur2/toPositive for hundreds of keys', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-murmur-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const ks = keys();
  expect(ks.length).toBeGreaterThan(280);
  const file = join(dir, 'keys.txt');
  writeFileSync(file, ks.map((k) => (k.length === 0 ? '-' : k.toString('hex'))).join('\n') + '\n');
  const out = await runJava(join(here, 'fixtures', 'Murmur2Vectors.java'), [String(PARTITIONS), file]);
  const lines = out.trim().split('\n');
  expect(lines).toHaveLength(ks.length);
  lines.forEach((line, i) => {
    const [hex, hash, partition] = line.split(' ');
    const key = ks[i] as Buffer;
    expect(hex).toBe(key.length === 0 ? '-' : key.toString('hex'));
    expect(murmur2(key), `murmur2(${hex})`).toBe(Number(hash));
    expect(partitionFor(key, PARTITIONS), `partition(${hex})`).toBe(Number(partition));
  });
});

test('partitioner › toPositive clears the sign bit like Kafka (not Math.abs)', () => {
  expect(toPositive(-2147483648)).toBe(0);
  expect(toPositive(-1)).toBe(2147483647);
  expect(toPositive(5)).toBe(5);
});

test('partitioner › a null key has no partition of its own', () => {
  expect(partitionFor(null, 8)).toBe(-1);
});

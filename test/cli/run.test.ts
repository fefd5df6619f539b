import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { describe, expect, onTestFinished, test } from 'vitest';
import { MAIN, NODE, outpost, STACK_FRAME, smallConfig, tempDir, writeConfig } from './helpers.ts';

interface Started {
  child: ChildProcessWithoutNullStreams;
  mqttPort: number;
  exited: Promise<number | null>;
}

/** Starts `outpost run` and waits for its "outpost ready" log line; killed after the test if still up. */
async function startRun(file: string): Promise<Started> {
  const child = spawn(NODE, [MAIN, 'run', '--config', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let out = '';
  let mqttPort = 0;
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as { msg?: string; addresses?: Array<{ type: string; port: number }> };
        const tcp = rec.addresses?.find((a) => a.type === 'tcp');
        if (tcp) mqttPort = tcp.port;
        if (rec.msg?.startsWith('outpost ready')) resolve();
      }
      out = out.slice(out.lastIndexOf('\n') + 1);
    });
    void exited.then((code) => reject(new Error(`outpost run exited early (${code}): ${out}`)));
  });
  return { child, mqttPort, exited };
}

describe('cli › outpost run', () => {
  test('cli › log read and log topics work while "outpost run" owns the data dir', async () => {
    const dir = await tempDir();
    const topic = `tel-${randomBytes(3).toString('hex')}`;
    const cfg = smallConfig(dir, { [topic]: { partitions: 1 } });
    cfg['routes'] = [{ match: 'vehicles/{deviceId}/telemetry', topic, key: '{deviceId}', deviceAcl: false }];
    const file = await writeConfig(dir, cfg);
    const run = await startRun(file);
    expect(run.mqttPort).toBeGreaterThan(0);

    const client = await mqtt.connectAsync({
      host: '127.0.0.1',
      port: run.mqttPort,
      clientId: 'cli-run-test',
    });
    onTestFinished(() => client.endAsync());
    const binary = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff]);
    await client.publishAsync('vehicles/v1/telemetry', '{"rpm":900}', { qos: 1 });
    await client.publishAsync('vehicles/v1/telemetry', binary, { qos: 1 });

    const r = await outpost(['log', 'read', '-c', file, '-t', topic, '-p', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { offset: number; key: string; value: string; valueEncoding: string });
    expect(got.map((g) => [g.offset, g.key, g.value, g.valueEncoding])).toEqual([
      [0, 'v1', '{"rpm":900}', 'utf8'],
      [1, 'v1', binary.toString('base64'), 'base64'],
    ]);

    const t = await outpost(['log', 'topics', '-c', file, '--json']);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject([
      { topic, partition: 0, startOffset: 0, endOffset: 2, records: 2 },
    ]);

    // The client leaves first: this test is about the CLI beside a running service, not the drain.
    await client.endAsync();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  test('cli › "outpost run" with an invalid config exits 1 naming the path, without a stack trace', async () => {
    const dir = await tempDir();
    const file = await writeConfig(dir, smallConfig(dir, { t: { partitions: 0 } }));
    const r = await outpost(['run', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `outpost: ${file} is invalid:`,
      '  log.topics.t.partitions: must be a positive integer',
    ]);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});

import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { describe, expect, onTestFinished, test } from 'vitest';
import { MAIN, NODE, outpost, smallConfig, tempDir, writeConfig } from './helpers.ts';

/** A pretty line: local time, level label, message (colours off in a pipe). */
const PRETTY = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|FATAL|DEBUG|TRACE): \S/;

/** Runs `outpost run` until its "outpost ready" line, then SIGTERM; returns stdout's lines. */
async function runUntilReady(args: string[], isReady: (line: string) => boolean): Promise<string[]> {
  const env = { ...process.env };
  delete env['FORCE_COLOR']; // colours only where colorette would choose them: not in this pipe
  const child = spawn(NODE, [MAIN, 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.split('\n').some(isReady)) resolve();
    });
    void exited.then((code) => reject(new Error(`outpost run exited early (${code}): ${out}${err}`)));
  });
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  return out.split('\n').filter((l) => l !== '');
}

async function configFile(): Promise<string> {
  const dir = await tempDir();
  return writeConfig(dir, { ...smallConfig(dir, { t: { partitions: 1 } }), unrouted: 't' });
}

function isJson(line: string): boolean {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}

describe('cli › outpost run --log-format', () => {
  test('cli › --log-format pretty prints one readable line per entry, not JSON', async () => {
    const lines = await runUntilReady(['--config', await configFile(), '--log-format', 'pretty'], (l) =>
      l.includes('INFO: outpost ready'),
    );
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      expect(isJson(line), line).toBe(false);
      if (!line.startsWith('    ')) expect(line).toMatch(PRETTY); // an `err` field goes on an indented line
    }
    expect(lines.join('\n')).not.toContain('\u001b['); // no colours in a pipe
    // the fields are still there, after the message
    expect(lines.find((l) => l.includes('INFO: ingest listening'))).toMatch(/"addresses":\[\{"type":"tcp"/);
  });

  test('cli › --log-format json and auto in a pipe print JSON lines with the stable fields', async () => {
    for (const format of [['--log-format', 'json'], []]) {
      const lines = await runUntilReady(['--config', await configFile(), ...format], (l) =>
        l.includes('"msg":"outpost ready'),
      );
      for (const line of lines) expect(isJson(line), line).toBe(true);
      const first = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(first).toMatchObject({ level: 'info', edgeId: 'test-edge', service: 'outpost' });
      expect(typeof first['time']).toBe('string');
    }
  });

  test('cli › --log-format auto on a terminal prints readable lines (script gives it a tty)', async () => {
    // The MQTT port is taken, so the service logs one fatal line and exits by itself.
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as { port: number }).port;
    const dir = await tempDir();
    const cfg = { ...smallConfig(dir, { t: { partitions: 1 } }), unrouted: 't' };
    cfg.mqtt.listeners = [{ type: 'tcp', host: '127.0.0.1', port }];
    const file = await writeConfig(dir, cfg);
    const cmd = `${NODE} ${MAIN} run --config ${file}`;
    const res = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    expect(res.code).toBe(1);
    const fatal = res.out.split(/\r?\n/).find((l) => l.includes('FATAL:'));
    expect(fatal, res.out).toMatch(PRETTY);
    expect(fatal).toContain(`127.0.0.1:${port}`);
    expect(res.out).not.toMatch(/^\{"level"/m);
  });

  test('cli › an unknown --log-format is a usage error (exit 2)', async () => {
    const res = await outpost(['run', '--config', await configFile(), '--log-format', 'xml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--log-format must be one of auto, json, pretty, got "xml"');
  });
});

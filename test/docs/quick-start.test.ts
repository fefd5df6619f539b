/**
 * Runs the README's quick start as written, the way a new user on a machine whose own Node is older
 * than 24 would: with the machine's PATH (every node_modules/.bin entry removed, so `node` and
 * `npx` are the machine's own), from the repository root.
 *
 * Substitutions, the only ones, because the test must not take the default ports or ./data:
 *   - the service is `npm start`'s own script (package.json) run through `npm exec`, with its
 *     `--config config/default.json` pointed at a temp copy of config/default.json whose dataDir is
 *     a temp dir and whose MQTT and HTTP ports are 0 (the kernel picks free ones);
 *   - in the README's client commands, `config/default.json` becomes that temp copy, and
 *     `mosquitto_pub -h 127.0.0.1` gets `-p <the MQTT port>`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { ROOT } from './markdown.ts';

/** The machine's PATH: what a user's shell has, without the project's node_modules/.bin. */
const MACHINE_PATH = (process.env['PATH'] ?? '')
  .split(delimiter)
  .filter((p) => p !== '' && !p.includes('node_modules'))
  .join(delimiter);
/** A user's shell environment; npm's once-a-week update check is off, so the test never waits on it. */
const ENV: NodeJS.ProcessEnv = {
  HOME: process.env['HOME'],
  PATH: MACHINE_PATH,
  LANG: 'C.UTF-8',
  npm_config_update_notifier: 'false',
};

/** The ```sh blocks of the README's "Quick start" section, each as its command lines. */
async function quickStartBlocks(): Promise<string[][]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Quick start\n');
  expect(start).toBeGreaterThan(0);
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next === -1 ? undefined : next);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.trim()),
  );
}

function sh(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `npm start`'s script with its config swapped, via `npm exec`; resolves with the MQTT port once ready. */
async function startService(
  configPath: string,
): Promise<{ child: ChildProcess; mqttPort: number; output: () => string }> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const script = pkg.scripts['start']!;
  expect(script).toContain('--config config/default.json');
  const command = script.replace('config/default.json', configPath);
  // Its own process group, so the whole tree (npm, sh, node) can be signalled.
  const child = spawn('npm', ['exec', '--call', command], {
    cwd: ROOT,
    env: ENV,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  let out = '';
  let all = '';
  let mqttPort = 0;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    all += d;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: string) => {
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
    child.on('close', (code) => reject(new Error(`the service exited early (${code}): ${out}`)));
  });
  return { child, mqttPort, output: () => all };
}

describe('docs › README quick start', () => {
  test("docs › the README's test command is the one .ci/run runs", async () => {
    const [commands] = await quickStartBlocks();
    expect(commands).toBeDefined();
    expect(commands!.some((c) => c.startsWith('npm ci && npm start'))).toBe(true);
    const testLine = commands!.find((c) => c.startsWith('npm ci && npm run '));
    const script = /^npm ci && npm run (\S+)/.exec(testLine ?? '')?.[1];
    expect(script).toBe('test:all');
    const ci = await readFile(join(ROOT, '.ci/run'), 'utf8');
    expect(ci.split('\n')).toContain(`npm run ${script}`);
  });

  test('docs › the quick-start client commands work as written, with the machine Node on the PATH', async () => {
    const machineNode = await sh('command -v node && node --version');
    expect(machineNode.code).toBe(0);
    expect(machineNode.stdout).not.toContain(ROOT); // the machine's node, not the project's node@24
    console.info(`machine node: ${machineNode.stdout.trim().split('\n').join(' ')}`);

    const dir = await mkdtemp(join(tmpdir(), 'outpost-quick-start-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const config = JSON.parse(await readFile(join(ROOT, 'config/default.json'), 'utf8')) as {
      dataDir: string;
      mqtt: { listeners: Array<{ port: number }> };
      http: { port: number };
    };
    config.dataDir = join(dir, 'data');
    for (const l of config.mqtt.listeners) l.port = 0;
    config.http.port = 0;
    const configPath = join(dir, 'outpost.json');
    await writeFile(configPath, JSON.stringify(config));
    const service = await startService(configPath);
    expect(service.mqttPort).toBeGreaterThan(0);

    const blocks = await quickStartBlocks();
    const clients = blocks.find((b) => b.some((l) => l.startsWith('mosquitto_pub ')));
    expect(clients, 'a quick-start block with mosquitto_pub').toBeDefined();
    // Found by what they do, not by how they are spelled: the test runs whatever the README says.
    const pub = clients!.find((l) => l.startsWith('mosquitto_pub '));
    const read = clients!.find((l) => / log read .*--config config\/default\.json/.test(l));
    const topics = clients!.find((l) => / log topics .*--config config\/default\.json/.test(l));
    expect(pub).toContain('mosquitto_pub -h 127.0.0.1 ');
    expect(read).toBeDefined();
    expect(topics).toBeDefined();
    const local = (l: string) =>
      l
        .replace('mosquitto_pub -h 127.0.0.1 ', `mosquitto_pub -h 127.0.0.1 -p ${service.mqttPort} `)
        .replaceAll('config/default.json', configPath);

    const published = await sh(local(pub!));
    expect(published.code, published.stderr).toBe(0);

    const records = await sh(local(read!));
    expect(records.code, records.stderr).toBe(0);
    const lines = records.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    const payload = /-m '([^']*)'/.exec(pub!)?.[1];
    expect(rec).toMatchObject({
      topic: 'vehicle-telemetry',
      partition: 3,
      offset: 0,
      key: 'v1',
      value: payload,
    });
    expect((rec['headers'] as Record<string, string>)['mqtt.topic']).toBe(/-t (\S+)/.exec(pub!)?.[1]);

    const listed = await sh(local(topics!));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('vehicle-telemetry');
    expect(listed.stdout).toContain('stb-events');

    // Ctrl-C in the terminal signals the whole foreground group: npm, its shell and the service.
    const closed = new Promise<void>((r) => service.child.on('close', () => r()));
    process.kill(-service.child.pid!, 'SIGINT');
    await closed;
    expect(service.output()).toContain('"msg":"stopped cleanly"');
  }, 180_000);
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { configJsonSchemaText, loadConfig, parseConfig } from '../../src/config/index.ts';
import { outpost, ROOT, STACK_FRAME, smallConfig, tempDir, writeConfig } from './helpers.ts';

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

describe('cli › check-config and config schema', () => {
  test('cli › check-config accepts config/default.json, prints a summary and exits 0', async () => {
    const r = await outpost(['check-config', '--config', 'config/default.json']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('config/default.json: OK');
    expect(r.stdout).toMatch(/listeners +tcp:\/\/127\.0\.0\.1:1883/);
    expect(r.stderr).toBe('');
  });

  test('cli › an invalid config prints "outpost: FILE is invalid:" and one exact path: reason line per problem, exit 1, no stack', async () => {
    const dir = await tempDir();
    const cfg = smallConfig(dir, { 'vehicle-telemetry': { partitions: 0 } });
    cfg.mqtt.listeners[0]!['port'] = 'x';
    const file = await writeConfig(dir, cfg);
    const r = await outpost(['check-config', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `outpost: ${file} is invalid:`,
      '  log.topics.vehicle-telemetry.partitions: must be a positive integer',
      '  mqtt.listeners[0].port: expected a number, got a string',
    ]);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  test('cli › contradictory settings are refused with the path of each and the fix', async () => {
    const dir = await tempDir();
    const cfg = smallConfig(dir, { t: { partitions: 1 } }) as Record<string, unknown> & {
      mqtt: Record<string, unknown>;
    };
    // A 4 MiB payload can never fit the default 1 MiB log.maxRecordBytes; a mirror selection typo.
    cfg.mqtt['limits'] = { maxPayloadBytes: 4 * 1024 ** 2 };
    cfg['mirror'] = { clusters: { east: { bootstrap: ['127.0.0.1:9092'], topics: { include: ['tt'] } } } };
    const file = await writeConfig(dir, cfg as never);
    const r = await outpost(['check-config', '--config', file]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`outpost: ${file} is invalid:`);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}mqtt\.limits\.maxPayloadBytes: 4194304 bytes plus up to \d+ bytes of headers and key exceed log\.maxRecordBytes \(1048576\).*Lower mqtt\.limits\.maxPayloadBytes to at most \d+, or raise log\.maxRecordBytes to at least \d+$/,
      ),
    );
    expect(lines).toContain(
      '  mirror.clusters.east.topics.include[0]: unknown log topic "tt" (declare it in log.topics, or use a glob pattern)',
    );
    // `outpost run` loads the config the same way and refuses to start.
    await expect(loadConfig(file)).rejects.toThrow(/maxPayloadBytes/);
  });

  test('cli › OUTPOST_DEBUG=1 adds the stack trace to a failure', async () => {
    const dir = await tempDir();
    const file = await writeConfig(dir, smallConfig(dir, { t: { partitions: 0 } }));
    const r = await outpost(['check-config', '--config', file], { env: { OUTPOST_DEBUG: '1' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('  log.topics.t.partitions: must be a positive integer');
    expect(r.stderr).toMatch(STACK_FRAME);
  });

  test('cli › a missing config file is one line, exit 1', async () => {
    const dir = await tempDir();
    const file = join(dir, 'absent.json');
    const r = await outpost(['check-config', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`outpost: cannot read config ${file}: file not found\n`);
  });

  test('cli › a config that is not JSON names the file and the parse error, exit 1', async () => {
    const dir = await tempDir();
    const file = join(dir, 'broken.json');
    await writeFile(file, '{ "edgeId": "x", }');
    const r = await outpost(['check-config', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^outpost: ${file} is not valid JSON: .+\\n$`));
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  test('cli › check-config names TLS files that are missing or are not PEM, exit 1', async () => {
    const dir = await tempDir();
    const cert = join(dir, 'server.crt');
    await writeFile(cert, 'not a certificate');
    const cfg = smallConfig(dir, { t: { partitions: 1 } });
    cfg.mqtt.listeners.push({
      type: 'tls',
      port: 0,
      cert,
      key: join(dir, 'server.key'),
    });
    const file = await writeConfig(dir, cfg);
    const r = await outpost(['check-config', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `outpost: ${file} is invalid:`,
      `  mqtt.listeners[1].cert: not a PEM file containing a CERTIFICATE: ${cert}`,
      `  mqtt.listeners[1].key: file not found: ${join(dir, 'server.key')}`,
    ]);
  });

  test('cli › check-config resolves relative certificate paths against the working directory', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'server.crt'), PEM_CERT);
    await writeFile(join(dir, 'server.key'), PEM_KEY);
    const cfg = smallConfig(dir, { t: { partitions: 1 } });
    cfg.dataDir = './state';
    cfg.mqtt.listeners.push({ type: 'tls', port: 0, cert: 'server.crt', key: 'server.key' });
    const file = await writeConfig(dir, cfg);
    const r = await outpost(['check-config', '--config', file], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`dataDir    ${join(dir, 'state')}`);
    const elsewhere = await outpost(['check-config', '--config', file]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('mqtt.listeners[1].cert: file not found');
  });

  test('cli › "config schema" prints the generated JSON Schema; --out writes the same text', async () => {
    const r = await outpost(['config', 'schema']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(configJsonSchemaText());
    const dir = await tempDir();
    const out = join(dir, 'schema.json');
    const w = await outpost(['config', 'schema', '--out', out]);
    expect(w.code).toBe(0);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(out, 'utf8')).toBe(configJsonSchemaText());
  });
});

describe('cli › config show', () => {
  test('cli › config show prints the effective config with defaults filled in, and it validates again', async () => {
    const r = await outpost(['config', 'show', '--config', 'config/default.json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout);
    const expected = await loadConfig(join(ROOT, 'config/default.json'));
    expect(shown).toEqual(expected);
    expect(shown.mqtt.limits.maxPayloadBytes).toBe(expected.mqtt.limits.maxPayloadBytes);
    expect(parseConfig(shown)).toEqual(expected);
  });

  test('cli › config show masks the admin token and SASL passwords unless --show-secrets', async () => {
    const r = await outpost(['config', 'show', '-c', 'config/gateway.example.json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout);
    expect(shown.http.token).toBe('********');
    expect(shown.mirror.clusters['dc-east'].sasl.password).toBe('********');
    expect(r.stdout).not.toContain('change-me');
    const open = await outpost(['config', 'show', '-c', 'config/gateway.example.json', '--show-secrets']);
    expect(JSON.parse(open.stdout).mirror.clusters['dc-west'].sasl.password).toBe('change-me');
  });
});

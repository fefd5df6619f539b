/**
 * The shipped Prometheus alert rules (systemd/outpost-alerts.yml): valid for promtool, every rule
 * has a recorded series it fires on and one it stays quiet on (systemd/outpost-alerts.test.yml), and
 * every metric they use is one a real `outpost run` exposes on /metrics.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { baseConfig, ROOT, startOutpost, tempDir, writeConfig } from './helpers.ts';

const run = promisify(execFile);
const RULES = join(ROOT, 'systemd/outpost-alerts.yml');
const RULE_TESTS = join(ROOT, 'systemd/outpost-alerts.test.yml');

/** promtool (Debian package `prometheus`; .ci/run installs it). */
async function promtool(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('promtool not found: apt-get install prometheus');
    return { code: Number(e.code ?? 1), out: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

function alertNames(): string[] {
  return [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1] as string);
}

/** For each alert name in the rule tests: how many cases expect it to fire, and how many expect quiet. */
function ruleCases(): Map<string, { fires: number; quiet: number }> {
  const out = new Map<string, { fires: number; quiet: number }>();
  let current: string | undefined;
  for (const line of readFileSync(RULE_TESTS, 'utf8').split('\n')) {
    const name = /^\s*alertname: (\S+)/.exec(line);
    if (name) current = name[1];
    const exp = /^\s*exp_alerts:(.*)$/.exec(line);
    if (exp && current) {
      const c = out.get(current) ?? { fires: 0, quiet: 0 };
      if (exp[1]?.trim() === '[]') c.quiet++;
      else c.fires++;
      out.set(current, c);
      current = undefined;
    }
  }
  return out;
}

/** A loopback port nothing listens on. */
function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('alert rules', () => {
  test('alerts › promtool check rules accepts systemd/outpost-alerts.yml', async () => {
    const r = await promtool('check', 'rules', RULES);
    expect(r.out).toContain(`SUCCESS: ${alertNames().length} rules found`);
    expect(r.code).toBe(0);
  });

  test('alerts › promtool test rules passes, with a firing and a quiet case for every rule', async () => {
    const names = alertNames();
    expect(names.length).toBeGreaterThanOrEqual(8);
    const cases = ruleCases();
    for (const n of names) {
      expect(cases.get(n)?.fires ?? 0, `${n}: no case where it fires`).toBeGreaterThan(0);
      expect(cases.get(n)?.quiet ?? 0, `${n}: no case where it stays quiet`).toBeGreaterThan(0);
    }
    expect([...cases.keys()].filter((n) => !names.includes(n))).toEqual([]);
    const r = await promtool('test', 'rules', RULE_TESTS);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  test('alerts › every metric the rules use is exposed by a running outpost', async () => {
    const dir = tempDir('alerts');
    const cfg = join(dir, 'c.json');
    // A mirror cluster nobody listens on: the link's metrics are registered, the link backs off.
    writeConfig(cfg, {
      ...baseConfig(join(dir, 'data')),
      mirror: { clusters: { 'dc-east': { bootstrap: `127.0.0.1:${await deadPort()}` } } },
    });
    const svc = await startOutpost(cfg);
    const text = await (await fetch(`${svc.http}metrics`)).text();
    svc.proc.kill('SIGTERM');
    await svc.exited;
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    const used = new Set([...readFileSync(RULES, 'utf8').matchAll(/\b(outpost_[a-z_]+)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(8);
    expect([...used].filter((m) => !exposed.has(m))).toEqual([]);
  });
});

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  baseConfig,
  connectMqtt,
  MAIN,
  metricValue,
  ROOT,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Status {
  edgeId: string;
  uptimeSeconds: number;
  ingest: { connectedDevices: number; connections: number; msgsPerSecond: number };
  topics: {
    topic: string;
    records: number;
    bytes: number;
    partitions: { partition: number; endOffset: number }[];
  }[];
  mirror: { clusters: { cluster: string; state: string; partitions: { lagRecords: number }[] }[] };
}

describe('status page', () => {
  test('status page › shows in Chromium the same numbers as /v1/status, refreshes live and highlights a down link', async () => {
    const dir = tempDir('page');
    const cfg = join(dir, 'c.json');
    const port = await closedPort();
    writeConfig(cfg, {
      ...baseConfig(join(dir, 'data')),
      mirror: { clusters: { 'dc-east': { bootstrap: `127.0.0.1:${port}` } } },
    });
    const svc = await startOutpost(cfg);
    // One registered device (password login) and one anonymous loopback client.
    const devs = [uniq('dev'), uniq('anon')];
    const add = spawnSync(
      process.execPath,
      [MAIN, 'devices', 'add', devs[0] as string, '--config', cfg, '--password-stdin'],
      {
        input: 's3cret-password\n',
        encoding: 'utf8',
      },
    );
    expect(add.status, add.stderr).toBe(0);
    // The service picks registry changes made by the CLI up within about a second: retry, bounded.
    let registered: Awaited<ReturnType<typeof connectMqtt>> | undefined;
    for (let attempt = 0; attempt < 50 && !registered; attempt++) {
      registered = await connectMqtt(svc.mqttPort, devs[0], {
        username: devs[0] as string,
        password: 's3cret-password',
      }).catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)));
    }
    if (!registered) throw new Error('the registered device could not log in');
    const clients = [registered, await connectMqtt(svc.mqttPort, devs[1])];
    for (let i = 0; i < 25; i++) {
      const c = clients[i % 2];
      await c?.publishAsync(`a/${devs[i % 2]}/t`, `m${i}`, { qos: 1 });
    }

    // A fresh, empty profile per run.
    const context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 390, height: 844 },
      isMobile: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    onTestFinished(() => context.close());
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(svc.http);

    // Server-rendered: the numbers are there before any script ran.
    expect(await page.locator('[data-k="edgeId"]').textContent()).toMatch(/^gw-/);
    // Live: the script replaces the content from /v1/status.
    // Functions, not strings: the page's CSP forbids eval.
    type PageGlobal = { document: { body: { dataset: Record<string, string> } }; outpostStatus: Status };
    await page.waitForFunction(
      () => (globalThis as unknown as PageGlobal).document.body.dataset.updated !== undefined,
      undefined,
      {
        timeout: 15_000,
      },
    );
    const shown = await page.evaluate(() => (globalThis as unknown as PageGlobal).outpostStatus);
    const raw = async (sel: string) => page.locator(sel).first().getAttribute('data-raw');

    // The page shows exactly the snapshot it fetched …
    expect(await page.locator('[data-k="edgeId"]').textContent()).toBe(shown.edgeId);
    expect(Number(await raw('[data-k="uptime"]'))).toBe(shown.uptimeSeconds);
    expect(Number(await raw('[data-k="rate"]'))).toBe(shown.ingest.msgsPerSecond);
    expect(Number(await raw('[data-k="devices"]'))).toBe(shown.ingest.connectedDevices);
    expect(Number(await raw('[data-k="connections"]'))).toBe(shown.ingest.connections);
    for (const t of shown.topics) {
      const row = page.locator(`tr[data-topic="${t.topic}"]`);
      expect(Number(await row.locator('[data-k="topic-records"]').getAttribute('data-raw'))).toBe(t.records);
      expect(Number(await row.locator('[data-k="topic-bytes"]').getAttribute('data-raw'))).toBe(t.bytes);
      for (const p of t.partitions) {
        expect(Number(await row.locator(`.off[data-p="${p.partition}"]`).getAttribute('data-end'))).toBe(
          p.endOffset,
        );
      }
    }
    // … and it agrees with an independent /v1/status read on everything that is not a clock.
    const now = (await (await fetch(`${svc.http}v1/status`)).json()) as Status;
    expect(shown.edgeId).toBe(now.edgeId);
    expect(shown.ingest.connectedDevices).toBe(1);
    expect(now.ingest.connectedDevices).toBe(1);
    expect(shown.ingest.connections).toBe(2);
    expect(now.ingest.connections).toBe(2);
    expect(shown.topics.find((t) => t.topic === 'a')?.records).toBe(25);
    expect(now.topics.find((t) => t.topic === 'a')?.records).toBe(25);

    // The unreachable datacenter is shown with its state and highlighted.
    const dc = page.locator('tr[data-dc="dc-east"]');
    const state = now.mirror.clusters[0]?.state;
    expect(state).not.toBe('streaming');
    expect(await dc.locator('[data-k="dc-state"]').textContent()).toBe(shown.mirror.clusters[0]?.state);
    expect(await dc.getAttribute('class')).toMatch(/^(down|lagging)$/);
    const lagShown = shown.mirror.clusters[0]?.partitions.reduce((n, p) => n + p.lagRecords, 0);
    expect(Number(await dc.locator('[data-k="dc-lagRecords"]').getAttribute('data-raw'))).toBe(lagShown);

    // /metrics carries the same link state.
    const metrics = await (await fetch(`${svc.http}metrics`)).text();
    expect(
      metricValue(metrics, 'outpost_mirror_link_state', { cluster: 'dc-east', state: String(state) }),
    ).toBe(1);
    expect(
      metricValue(metrics, 'outpost_mirror_link_state', { cluster: 'dc-east', state: 'streaming' }),
    ).toBe(0);

    // No external resources: every request went to the gateway itself.
    expect(requests.length).toBeGreaterThan(1);
    for (const u of requests) expect(u.startsWith(svc.http)).toBe(true);

    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts/status-page.png'), fullPage: true });
    for (const c of clients) c.end(true);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});

/**
 * SIGHUP applies log.commitWindowMs and log.commitMaxBytes to the running log. Shown by what the
 * log does, not by what the config says: `outpost_log_commits_total` per appended record for the
 * same publish pattern (one message every 150 ms, QoS 1, PUBACKs awaited at the end) before and
 * after each reload.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import {
  baseConfig,
  connectMqtt,
  metricValue,
  readTopic,
  startOutpost,
  tempDir,
  uniq,
  writeConfig,
} from './helpers.ts';

const GAP_MS = 150;
const MESSAGES = 4;

describe('service SIGHUP reload of the group commit', () => {
  test('service › SIGHUP changes the commit window and commitMaxBytes of the running log, and logs the change', async () => {
    const dir = tempDir('hupcommit');
    const dataDir = join(dir, 'data');
    const cfg = join(dir, 'c.json');
    const config = baseConfig(dataDir);
    const withCommit = (commitWindowMs: number, commitMaxBytes: number) => ({
      ...config,
      log: { ...config.log, commitWindowMs, commitMaxBytes },
    });
    writeConfig(cfg, withCommit(0, 1024 ** 2));
    const svc = await startOutpost(cfg);
    const dev = uniq('dev');
    const client = await connectMqtt(svc.mqttPort, dev);
    const scrape = async () => {
      const text = await (await fetch(`${svc.http}metrics`)).text();
      return {
        text,
        commits: metricValue(text, 'outpost_log_commits_total'),
        records: metricValue(text, 'outpost_log_appended_records_total'),
      };
    };
    let seq = 0;
    /** Publishes MESSAGES messages GAP_MS apart (each its own event turn at Outpost); commits they took. */
    const commitsFor = async (): Promise<number> => {
      const before = await scrape();
      const acks: Promise<unknown>[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        if (i > 0) await sleep(GAP_MS);
        acks.push(client.publishAsync(`a/${dev}/x`, String(seq++), { qos: 1 }));
      }
      await Promise.all(acks);
      const after = await scrape();
      expect(after.records - before.records, 'only these messages were appended').toBe(MESSAGES);
      return after.commits - before.commits;
    };
    const reload = async (commitWindowMs: number, commitMaxBytes: number, reloads: number) => {
      writeConfig(cfg, withCommit(commitWindowMs, commitMaxBytes));
      svc.proc.kill('SIGHUP');
      const changed = await svc.waitForLine(
        (l) =>
          l.msg.startsWith('log commit policy changed') &&
          l.commitWindowMs === commitWindowMs &&
          l.commitMaxBytes === commitMaxBytes,
      );
      await svc.waitForLine(
        (l) => l.msg === 'config reloaded' && svc.lines.indexOf(l) > svc.lines.indexOf(changed),
      );
      const { text } = await scrape();
      expect(metricValue(text, 'outpost_config_reloads_total', { result: 'ok' })).toBe(reloads);
      return changed;
    };

    // Window 0: every message is committed in its own event turn.
    expect(await commitsFor()).toBe(MESSAGES);
    const longer = await reload(1000, 1024 ** 2, 1);
    expect(longer.previous).toEqual({ commitWindowMs: 0, commitMaxBytes: 1024 ** 2 });
    expect(svc.lines.some((l) => l.reason === 'needs-restart')).toBe(false);
    // Window 1000 ms: the four messages (450 ms from first to last) share one commit.
    expect(await commitsFor()).toBe(1);
    // commitMaxBytes 1: every append fills the commit at once, the long window notwithstanding.
    await reload(1000, 1, 2);
    expect(await commitsFor()).toBe(MESSAGES);
    expect(client.connected).toBe(true);

    client.end(true);
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    const a = await readTopic(dataDir, { a: { partitions: 2 }, b: { partitions: 1 } }, 'a');
    expect(a.map((r) => Number(r.value.toString()))).toEqual(
      Array.from({ length: 3 * MESSAGES }, (_, i) => i),
    );
  });
});

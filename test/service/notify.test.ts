import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { sockaddrUn } from '../../src/service/notify.ts';
import { baseConfig, ROOT, startOutpost, tempDir, writeConfig } from './helpers.ts';

interface Datagram {
  t: number;
  msg: string;
}

/** A real AF_UNIX SOCK_DGRAM socket (python3), printing each datagram as a JSON line. */
async function notifySocket(path: string) {
  const proc = spawn('python3', [join(ROOT, 'test/service/notify-receiver.py'), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => {
    proc.kill('SIGKILL');
  });
  const got: Datagram[] = [];
  let buf = '';
  let bound: () => void = () => {};
  const isBound = new Promise<void>((r) => {
    bound = r;
  });
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as Datagram & { bound?: string };
      buf = buf.slice(nl + 1);
      if (line.bound) bound();
      else got.push(line);
      nl = buf.indexOf('\n');
    }
  });
  await isBound;
  const waitFor = async (pred: (d: Datagram[]) => boolean, what: string, timeoutMs = 15_000) => {
    const until = Date.now() + timeoutMs;
    while (!pred(got)) {
      if (Date.now() > until) throw new Error(`no ${what}; got ${JSON.stringify(got.map((d) => d.msg))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { got, waitFor };
}

const has = (d: Datagram, kv: string) => d.msg.split('\n').includes(kv);

describe('sd_notify', () => {
  test('notify › encodes path and abstract sockaddr_un like sd_notify(3)', () => {
    const p = sockaddrUn('/run/systemd/notify');
    expect(p.len).toBe(2 + '/run/systemd/notify'.length + 1);
    expect(p.addr.subarray(0, 2)).toEqual(Buffer.from([1, 0]));
    expect(p.addr.subarray(2, p.len).toString('latin1')).toBe('/run/systemd/notify\0');
    const a = sockaddrUn('@outpost/notify');
    expect(a.len).toBe(2 + 1 + 'outpost/notify'.length);
    expect(a.addr.subarray(2, a.len)).toEqual(
      Buffer.concat([Buffer.from([0]), Buffer.from('outpost/notify')]),
    );
  });

  for (const kind of ['path', 'abstract'] as const) {
    test(`notify › sends READY=1 once serving, WATCHDOG=1 while the loop runs, STOPPING=1 on SIGTERM (${kind} socket)`, async () => {
      const dir = tempDir('notify');
      const sock = kind === 'path' ? join(dir, 'notify.sock') : `@outpost-test-${process.pid}-${Date.now()}`;
      const rx = await notifySocket(sock);
      const cfg = join(dir, 'c.json');
      writeConfig(cfg, baseConfig(join(dir, 'data')));
      const svc = await startOutpost(cfg, { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000' });

      await rx.waitFor((g) => g.some((d) => has(d, 'READY=1')), 'READY=1');
      const ready = rx.got.find((d) => has(d, 'READY=1')) as Datagram;
      expect(ready.msg).toContain(`MAINPID=${svc.pid}`);
      expect(ready.msg).toMatch(/^STATUS=0 connections, 0 devices, 0\.0 msg\/s; no mirror links$/m);
      // READY=1 means serving: the admin port and the MQTT listener both answer.
      expect((await fetch(`${svc.http}healthz`)).status).toBe(200);
      const status = (await (await fetch(`${svc.http}v1/status`)).json()) as {
        ingest: { listeners: { port: number }[] };
      };
      expect(status.ingest.listeners[0]?.port).toBe(svc.mqttPort);

      // Pings follow READY (at WATCHDOG_USEC / 2).
      await rx.waitFor(
        (g) => g.filter((d) => d.msg === 'WATCHDOG=1' && d.t >= ready.t).length >= 3,
        'WATCHDOG=1 pings',
      );

      // A stalled process sends no pings: freeze it for 1.5 s (a running one sends ~7 in that time).
      // At most one ping sent just before the freeze may still be on its way through a loaded machine.
      svc.proc.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 300));
      const frozenAt = rx.got.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(rx.got.length - frozenAt).toBeLessThanOrEqual(1);
      svc.proc.kill('SIGCONT');
      await rx.waitFor(
        (g) => g.slice(frozenAt).some((d) => d.msg === 'WATCHDOG=1'),
        'WATCHDOG=1 after SIGCONT',
      );

      expect(rx.got.some((d) => has(d, 'STOPPING=1'))).toBe(false);
      svc.proc.kill('SIGTERM');
      const exit = await svc.exited;
      expect(exit.code).toBe(0);
      await rx.waitFor((g) => g.some((d) => has(d, 'STOPPING=1')), 'STOPPING=1');
      const readyIdx = rx.got.findIndex((d) => has(d, 'READY=1'));
      const stoppingIdx = rx.got.findIndex((d) => has(d, 'STOPPING=1'));
      expect(stoppingIdx).toBeGreaterThan(readyIdx);
      expect(rx.got.filter((d) => has(d, 'READY=1'))).toHaveLength(1);
    });
  }
});

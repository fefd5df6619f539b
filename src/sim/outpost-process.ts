import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { OutpostError } from '../errors.ts';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

export interface OutpostProcess {
  pid: number;
  /** Actual bound MQTT listeners (from the "ingest listening" log line). */
  mqtt: Array<{ type: string; host: string; port: number }>;
  /** Admin HTTP base URL, e.g. http://127.0.0.1:40123/ (from the "ready" log line). */
  http: string | null;
  child: ChildProcess;
  /** Resolves with the exit code (or 128 + signal number) when the process ends. */
  exited: Promise<number>;
  /** SIGTERM and wait (then SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<number>;
  /** SIGKILL, as a crash would. */
  kill9(): Promise<number>;
}

/**
 * Starts `outpost run --config FILE` as a child process (the same Node that runs this code) and
 * waits until its log says it is ready, reading the actual MQTT and HTTP ports from the structured
 * log lines ("ingest listening" {addresses}, "outpost ready" {http}) so configs can use port 0.
 * Its stdout/stderr are appended to `logFile` when given.
 */
export async function startOutpost(opts: {
  configPath: string;
  cwd?: string;
  logFile?: string;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Options for Node itself, before the script (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}): Promise<OutpostProcess> {
  const args = [...(opts.nodeArgs ?? []), MAIN, 'run', '--config', opts.configPath];
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sink: WriteStream | null = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
  const tail: string[] = [];
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      sink?.end();
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 1));
    });
  });
  child.stderr?.on('data', (b: Buffer) => {
    sink?.write(b);
    tail.push(b.toString());
    if (tail.length > 20) tail.shift();
  });
  const proc: OutpostProcess = {
    pid: child.pid ?? -1,
    mqtt: [],
    http: null,
    child,
    exited,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
  };
  const ready = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      sink?.write(`${line}\n`);
      tail.push(line);
      if (tail.length > 20) tail.shift();
      let rec: { msg?: string; addresses?: OutpostProcess['mqtt']; http?: string };
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (Array.isArray(rec.addresses)) proc.mqtt = rec.addresses;
      if (typeof rec.http === 'string' && /ready/.test(rec.msg ?? '')) {
        proc.http = rec.http;
        resolve();
      }
    });
    void exited.then((code) =>
      reject(
        new OutpostError(
          'SIM_SERVICE_FAILED',
          `outpost run exited with ${code} before ready:\n${tail.join('\n')}`,
        ),
      ),
    );
  });
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new OutpostError(
                'SIM_SERVICE_FAILED',
                `outpost run not ready after ${timeoutMs} ms:\n${tail.join('\n')}`,
                {
                  retriable: true,
                },
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    await proc.kill9();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return proc;
}

/** The first TCP MQTT listener of a started service. */
export function mqttTcp(p: OutpostProcess): { host: string; port: number } {
  const l = p.mqtt.find((a) => a.type === 'tcp');
  if (!l)
    throw new OutpostError(
      'SIM_SERVICE_FAILED',
      'outpost has no tcp MQTT listener (the simulator needs one)',
    );
  return { host: l.host === '0.0.0.0' ? '127.0.0.1' : l.host, port: l.port };
}

/**
 * Real single-node Apache Kafka (KRaft) clusters on loopback for tests, demos and benchmarks.
 *
 * startCluster({ name }) → format storage with Kafka's StorageTool → start kafka.Kafka (wrapped by
 * java/OutpostKafkaMain.java, which stops the broker when this process dies, even by SIGKILL) → wait until a
 * real metadata request over the PLAINTEXT listener answers with our cluster id.
 *
 * KAFKA_BOOTSTRAP_<NAME> (upper-case, non-alphanumerics → '_', e.g. KAFKA_BOOTSTRAP_DC_EAST) points a name at
 * an existing cluster instead; such a cluster cannot be stopped, killed or restarted from here.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type ClusterLayout,
  type ClusterState,
  freePorts,
  jvmLoggingFlags,
  layoutOf,
  log4j2Properties,
  log4jProperties,
  newClusterId,
  serverProperties,
} from './broker-config.ts';
import { bootstrapEnvVar, ExternalCluster } from './external.ts';
import { compileJava, requireJavaTool } from './java.ts';
import { kafkaClasspath } from './libs.ts';
import { fileSize, readTail } from './log-tail.ts';
import { waitForMetadata } from './readiness.ts';

export { bootstrapEnvVar };

const run = promisify(execFile);
const WRAPPER_SOURCE = fileURLToPath(new URL('./java/OutpostKafkaMain.java', import.meta.url));

export const DEFAULT_HEAP = '512m';
/** Bounded wait for readiness; OUTPOST_KAFKA_READY_TIMEOUT_MS overrides it (a busy 2-core box needs 30+ s). */
export const DEFAULT_READY_TIMEOUT_MS = Number(process.env['OUTPOST_KAFKA_READY_TIMEOUT_MS'] ?? 120_000);
export const DEFAULT_STOP_TIMEOUT_MS = 60_000;
const PORT_ATTEMPTS = 4;

export interface StartClusterOptions {
  /** Cluster name, e.g. 'dc-east'; also selects the KAFKA_BOOTSTRAP_<NAME> override. */
  name: string;
  /** Cluster dir (created if missing). A dir from an earlier run is restarted with its ports and data. Default: a fresh temp dir. */
  dir?: string;
  /** JVM max heap, default 512m. */
  heap?: string;
  /**
   * CPU niceness of the broker JVM and all its threads (spawned through `nice -n`), default 0. A
   * benchmark in which the clusters stand in for remote datacenters sets it so that the brokers
   * take the CPU the gateway's own processes leave.
   */
  nice?: number;
  readyTimeoutMs?: number;
}

export interface KafkaCluster {
  readonly name: string;
  /** 'host:port' of the PLAINTEXT listener. Stable across stop/kill/start. */
  readonly bootstrap: string;
  /** True when KAFKA_BOOTSTRAP_<NAME> pointed at an existing cluster: stop/kill/start then throw. */
  readonly external: boolean;
  /** The cluster dir (server.properties, broker.log, data/); null for an external cluster. */
  readonly dataDir: string | null;
  readonly clusterId: string;
  /** Broker JVM pid while running. */
  pid(): number | null;
  running(): boolean;
  /** SIGTERM and wait for Kafka's clean shutdown. */
  stop(timeoutMs?: number): Promise<void>;
  /**
   * SIGKILL and wait for the process to be gone. Records acknowledged with acks=all survive a restart: the
   * broker wrote them to its log files before answering, and the OS (which keeps running) holds those pages.
   */
  kill(): Promise<void>;
  /** Restart on the same ports and data dir; resolves when ready. */
  start(): Promise<void>;
  /** Kill if running and delete the cluster dir if the harness created it. For test cleanup. */
  destroy(): Promise<void>;
  /** The last lines of the broker's log (and JVM stdout), for error messages. */
  logTail(lines?: number): string;
}

/** Starts (or, with KAFKA_BOOTSTRAP_<NAME>, connects to) one cluster. Resolves when it answers metadata requests. */
export async function startCluster(options: StartClusterOptions): Promise<KafkaCluster> {
  const override = process.env[bootstrapEnvVar(options.name)];
  if (override !== undefined && override !== '') {
    const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const clusterId = await waitForMetadata(override, Date.now() + readyTimeoutMs, () => {
      const env = bootstrapEnvVar(options.name);
      return `${env}=${override}: no Kafka answered within ${readyTimeoutMs} ms`;
    });
    return new ExternalCluster(options.name, override, clusterId);
  }
  const cluster = await ManagedCluster.create(options);
  try {
    await cluster.start();
  } catch (err) {
    await cluster.kill().catch(() => {});
    throw err;
  }
  return cluster;
}

/**
 * Starts several clusters concurrently; if one fails, the others are destroyed and the first error is
 * thrown. `root`: each cluster's dir is root/<name> (default: a fresh temp dir each).
 */
export async function startClusters(
  names: string[],
  options: Omit<StartClusterOptions, 'name' | 'dir'> & { root?: string } = {},
): Promise<KafkaCluster[]> {
  const { root, ...rest } = options;
  const results = await Promise.allSettled(
    names.map((name) => startCluster({ ...rest, name, ...(root ? { dir: join(root, name) } : {}) })),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.destroy() : undefined)));
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<KafkaCluster>).value);
}

/** Brokers started by this process; SIGKILLed synchronously if the process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

class ManagedCluster implements KafkaCluster {
  readonly name: string;
  readonly external = false;
  readonly dataDir: string;
  private readonly layout: ClusterLayout;
  private state: ClusterState;
  private readonly ownsDir: boolean;
  private readonly heap: string;
  private readonly nice: number;
  private readonly readyTimeoutMs: number;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private startedOnce = false;

  private constructor(options: StartClusterOptions, root: string, ownsDir: boolean, state: ClusterState) {
    this.name = options.name;
    this.dataDir = root;
    this.layout = layoutOf(root);
    this.ownsDir = ownsDir;
    this.state = state;
    this.heap = options.heap ?? DEFAULT_HEAP;
    this.nice = options.nice ?? 0;
    this.readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  }

  /** Step 1: the cluster dir, ports and id (reused from outpost-cluster.json when the dir was used before). */
  static async create(options: StartClusterOptions): Promise<ManagedCluster> {
    await requireJavaTool('java');
    kafkaClasspath(); // throws "run test/kafka/fetch.sh" when the jars are missing
    const safe = options.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    const root =
      options.dir !== undefined
        ? resolve(options.dir)
        : mkdtempSync(join(tmpdir(), `outpost-kafka-${safe}-`));
    mkdirSync(root, { recursive: true });
    const layout = layoutOf(root);
    const state: ClusterState = existsSync(layout.stateFile)
      ? (JSON.parse(readFileSync(layout.stateFile, 'utf8')) as ClusterState)
      : { name: options.name, clusterId: newClusterId(), ...(await brokerAndControllerPorts()) };
    const cluster = new ManagedCluster(options, root, options.dir === undefined, state);
    cluster.writeConfig();
    return cluster;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.state.brokerPort}`;
  }
  get clusterId(): string {
    return this.state.clusterId;
  }
  pid(): number | null {
    return this.child?.pid ?? null;
  }
  running(): boolean {
    return this.child !== null;
  }

  private writeConfig(): void {
    writeFileSync(this.layout.stateFile, `${JSON.stringify(this.state, null, 2)}\n`);
    writeFileSync(this.layout.serverProperties, serverProperties(this.state, this.layout));
    writeFileSync(this.layout.log4jProperties, log4jProperties(this.layout));
    writeFileSync(this.layout.log4j2Properties, log4j2Properties(this.layout));
  }

  /** Step 2: format the storage with Kafka's own StorageTool, once (meta.properties marks a formatted dir). */
  private async format(): Promise<void> {
    if (existsSync(join(this.layout.data, 'meta.properties'))) return;
    const args = [
      '-Xmx256m',
      ...jvmLoggingFlags(this.layout),
      '-cp',
      kafkaClasspath(),
      'kafka.tools.StorageTool',
      'format',
      '--cluster-id',
      this.state.clusterId,
      '--config',
      this.layout.serverProperties,
    ];
    try {
      await run('java', args, { timeout: 120_000 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(
        `kafka ${this.name}: StorageTool format failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
      );
    }
  }

  /** Step 3: spawn the broker JVM (stdout/stderr into stdout.log, broker log via log4j into broker.log). */
  private async spawnBroker(): Promise<ChildProcess> {
    const classes = await compileJava(WRAPPER_SOURCE);
    const out = openSync(this.layout.stdoutLog, 'a');
    try {
      const java = [
        `-Xmx${this.heap}`,
        '-XX:+UseSerialGC',
        '-Djava.awt.headless=true',
        ...jvmLoggingFlags(this.layout),
        `-Doutpost.parentPid=${process.pid}`,
        '-cp',
        `${classes}:${kafkaClasspath()}`,
        'OutpostKafkaMain',
        this.layout.serverProperties,
      ];
      // `nice` execs java: the child's pid is the JVM's, and every thread it starts inherits the niceness.
      const child = spawn(
        this.nice > 0 ? 'nice' : 'java',
        this.nice > 0 ? ['-n', String(this.nice), 'java', ...java] : java,
        { stdio: ['ignore', out, out] },
      );
      trackChild(child);
      this.child = child;
      this.exited = new Promise((done) => {
        child.once('exit', () => {
          if (this.child === child) this.child = null;
          done();
        });
      });
      return child;
    } finally {
      closeSync(out);
    }
  }

  /** Step 4: ready = a metadata request answers with our cluster id; fails fast if the JVM exits. */
  private async waitReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    let gone = false;
    void this.exited.then(() => {
      gone = true;
    });
    const id = await waitForMetadata(
      this.bootstrap,
      deadline,
      () => `kafka ${this.name} (pid ${child.pid}) not ready within ${this.readyTimeoutMs} ms`,
      () => gone,
    ).catch(async (err: Error) => {
      if (!gone) await this.kill();
      throw new Error(`${err.message}\n--- ${this.layout.root} log tail ---\n${this.logTail(40)}`);
    });
    if (id !== this.state.clusterId) {
      await this.kill();
      throw new Error(
        `kafka ${this.name}: ${this.bootstrap} answered with cluster id ${id}, expected ${this.state.clusterId}`,
      );
    }
  }

  async start(): Promise<void> {
    if (this.child !== null) throw new Error(`kafka ${this.name} is already running (pid ${this.child.pid})`);
    await this.format();
    for (let attempt = 1; ; attempt++) {
      const marks = { broker: fileSize(this.layout.brokerLog), stdout: fileSize(this.layout.stdoutLog) };
      const child = await this.spawnBroker();
      try {
        await this.waitReady(child);
        this.startedOnce = true;
        return;
      } catch (err) {
        const output =
          readTail(this.layout.brokerLog, 200, marks.broker) +
          readTail(this.layout.stdoutLog, 200, marks.stdout);
        if (attempt >= PORT_ATTEMPTS || !/Address already in use/i.test(output)) throw err;
        // Someone took a port between freePorts() and bind. Never-started clusters pick new ports;
        // a restart keeps its ports (clients hold the bootstrap) and waits for them to free up.
        if (!this.startedOnce) {
          this.state = { ...this.state, ...(await brokerAndControllerPorts()) };
          this.writeConfig();
        } else {
          await sleep(1000 * attempt);
        }
      }
    }
  }

  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.kill('SIGTERM');
    const timer = sleep(timeoutMs, 'timeout' as const);
    if ((await Promise.race([this.exited.then(() => 'exited' as const), timer])) === 'timeout') {
      await this.kill();
      throw new Error(
        `kafka ${this.name} ignored SIGTERM for ${timeoutMs} ms and was killed\n${this.logTail(40)}`,
      );
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async destroy(): Promise<void> {
    await this.kill();
    if (this.ownsDir) rmSync(this.layout.root, { recursive: true, force: true });
  }

  logTail(lines = 40): string {
    return [
      `broker.log: ${readTail(this.layout.brokerLog, lines)}`,
      `stdout.log: ${readTail(this.layout.stdoutLog, lines)}`,
    ].join('\n');
  }
}

async function brokerAndControllerPorts(): Promise<Pick<ClusterState, 'brokerPort' | 'controllerPort'>> {
  const [brokerPort, controllerPort] = await freePorts(2);
  return { brokerPort: brokerPort as number, controllerPort: controllerPort as number };
}

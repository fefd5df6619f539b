import { randomBytes } from 'node:crypto';
import { type Config, type ListenerConfig, loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import {
  type FleetOptions,
  formatProgress,
  parseQosMix,
  runFleet,
  writeAckedFile,
  writeCommandsFile,
} from '../../sim/index.ts';
import { flag, optionalString } from '../args.ts';
import type { Command, CommandArgs, CommandIO } from '../command.ts';
import { openLogReader } from '../open-log.ts';
import { fleetCommands, SIM_COMMAND_HELP, SIM_COMMAND_OPTIONS } from './sim-commands.ts';

/** The defaults of `outpost sim`, written once: the help text and the option parsing both read them. */
const SIM_DEFAULTS = {
  host: '127.0.0.1',
  port: 1883,
  stb: 10,
  vehicles: 5,
  rateStb: 1,
  rateVehicle: 1,
  qosMix: '0:0.1,1:0.8,2:0.1',
  seed: 1,
  durationSeconds: 10,
  maxInflight: 100,
  drainTimeoutSeconds: 30,
  registerPassword: 'sim-{deviceId}',
} as const;
const D = SIM_DEFAULTS;

function num(
  args: CommandArgs,
  name: string,
  def: number | undefined,
  opts: { min?: number; int?: boolean } = {},
): number | undefined {
  const v = args.values[name];
  if (v === undefined) return def;
  const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n < (opts.min ?? 0) || (opts.int && !Number.isInteger(n))) {
    const what = opts.int ? 'a non-negative integer' : 'a non-negative number';
    throw new OutpostError(
      'USAGE',
      `--${name} must be ${what}${opts.min ? ` >= ${opts.min}` : ''}, got "${String(v)}"`,
      {
        reason: name,
      },
    );
  }
  return n;
}

function burst(text: string | undefined): { probability: number; size: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?):(\d+)$/.exec(text);
  if (!m)
    throw new OutpostError(
      'USAGE',
      `--chaos-burst must be P:N (probability per device per second : messages), got "${text}"`,
      { reason: 'chaos-burst' },
    );
  return { probability: Number(m[1]), size: Number(m[2]) };
}

/** --mqtt5 SHARE: a number in [0, 1]. */
function mqtt5Share(args: CommandArgs): number {
  const share = num(args, 'mqtt5', 0) as number;
  if (share > 1)
    throw new OutpostError('USAGE', `--mqtt5 must be a share between 0 and 1, got "${share}"`, {
      reason: 'mqtt5',
    });
  return share;
}

type TcpListener = Extract<ListenerConfig, { type: 'tcp' }> | undefined;

/** The fleet's shape and chaos: read, and so checked, before --register writes anything. */
function fleetShape(args: CommandArgs, tcp: TcpListener, register: boolean) {
  let qosMix: FleetOptions['qosMix'];
  try {
    qosMix = parseQosMix(optionalString(args, 'qos-mix') ?? D.qosMix);
  } catch (err) {
    throw new OutpostError('USAGE', `--qos-mix: ${(err as Error).message}`, { reason: 'qos-mix' });
  }
  const port = num(args, 'port', tcp?.port && tcp.port > 0 ? tcp.port : D.port, { int: true });
  const messages = num(args, 'messages', undefined, { int: true, min: 1 });
  const duration = num(args, 'duration', messages === undefined ? D.durationSeconds : undefined);
  const password = optionalString(args, 'password') ?? (register ? D.registerPassword : undefined);
  const stb = num(args, 'stb', D.stb, { int: true }) as number;
  const vehicles = num(args, 'vehicles', D.vehicles, { int: true }) as number;
  const idPrefix = optionalString(args, 'id-prefix') ?? '';
  const skew = num(args, 'chaos-skew', undefined);
  const disconnect = num(args, 'chaos-disconnect', undefined);
  const bursts = burst(optionalString(args, 'chaos-burst'));
  return { qosMix, port, messages, duration, password, stb, vehicles, idPrefix, skew, disconnect, bursts };
}

type FleetShape = ReturnType<typeof fleetShape>;

/** --register: adds the fleet's devices to the registry in the config's data dir (existing ones are kept). */
async function registerFirst(config: Config, configPath: string, shape: FleetShape, io: CommandIO) {
  const log = await openLogReader(config, configPath);
  try {
    const { openDevices } = await import('../../devices/index.ts');
    const { registerFleet } = await import('../../sim/index.ts');
    const devices = openDevices(log, { throttle: config.mqtt.authThrottle });
    try {
      const r = await registerFleet(devices, {
        stb: shape.stb,
        vehicles: shape.vehicles,
        idPrefix: shape.idPrefix,
        password: shape.password ?? D.registerPassword,
      });
      io.stderr.write(`sim: registered ${r.added} device(s), ${r.existing} already registered\n`);
    } finally {
      devices.close();
    }
    await log.flushed();
  } finally {
    await log.close();
  }
}

/** Progress on stderr: one rewritten line on a terminal, else a line every 5 s; the first 5 refusals. */
function stderrReporter(io: CommandIO): Pick<FleetOptions, 'onProgress' | 'onRefused'> {
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  let lastLine = 0;
  let refusals = 0;
  return {
    onProgress: (p) => {
      if (tty) io.stderr.write(`\r${formatProgress(p)}\x1b[K`);
      else if (p.elapsedMs - lastLine >= 5_000) {
        lastLine = p.elapsedMs;
        io.stderr.write(`${formatProgress(p)}\n`);
      }
    },
    onRefused: (id, reason) => {
      if (++refusals <= 5) io.stderr.write(`${tty ? '\n' : ''}sim: ${id} refused: ${reason}\n`);
      if (refusals === 5) io.stderr.write('sim: (further refusals are only counted)\n');
    },
  };
}

/** The shape plus rates, seed, window and drain timeout: everything runFleet needs. */
function fleetOptions(
  args: CommandArgs,
  shape: FleetShape,
  tcp: TcpListener,
  signal: AbortSignal,
  reporter: Pick<FleetOptions, 'onProgress' | 'onRefused'>,
): FleetOptions {
  const { disconnect, bursts, skew } = shape;
  const opts: FleetOptions = {
    host: optionalString(args, 'host') ?? (tcp && tcp.host !== '0.0.0.0' ? tcp.host : D.host),
    port: shape.port as number,
    stb: shape.stb,
    vehicles: shape.vehicles,
    rateStb: num(args, 'rate-stb', D.rateStb) as number,
    rateVehicle: num(args, 'rate-vehicle', D.rateVehicle) as number,
    qosMix: shape.qosMix,
    seed: num(args, 'seed', D.seed, { int: true }) as number,
    idPrefix: shape.idPrefix,
    maxInflightPerDevice: num(args, 'max-inflight', D.maxInflight, { int: true, min: 1 }) as number,
    mqtt5Share: mqtt5Share(args),
    drainTimeoutMs: (num(args, 'drain-timeout', D.drainTimeoutSeconds) as number) * 1000,
    signal,
    chaos: {
      ...(disconnect !== undefined ? { disconnect } : {}),
      ...(bursts !== undefined ? { burst: bursts } : {}),
      ...(skew !== undefined ? { skewMs: skew } : {}),
    },
    ...reporter,
  };
  if (shape.messages !== undefined) opts.messages = shape.messages;
  if (shape.password !== undefined) opts.password = shape.password;
  if (shape.duration !== undefined) opts.durationMs = shape.duration * 1000;
  opts.run = optionalString(args, 'run') ?? `sim-${randomBytes(4).toString('hex')}`;
  return opts;
}

export const simCommand: Command = {
  name: 'sim',
  summary:
    'Simulate a fleet of set-top boxes and vehicles publishing over MQTT; writes what was acknowledged.',
  usage:
    '[--host H] [--port P] [--stb N] [--vehicles M] [--rate-stb R] [--rate-vehicle R] [--qos-mix MIX] [--seed S] [--duration SEC | --messages K] [--register --config FILE] [--password P] [--chaos-disconnect P] [--chaos-burst P:N] [--chaos-skew MS] [--mqtt5 SHARE] [--acked-out FILE] [--commands N [--commands-out FILE] …]',
  help: [
    'Options:',
    `      --host H              MQTT host (default: the first tcp listener of --config, else ${D.host}).`,
    `      --port P              MQTT port (default: that listener's port, else ${D.port}).`,
    `      --stb N               Set-top boxes stb-0001… (default ${D.stb}).`,
    `      --vehicles M          Vehicles veh-0001… (default ${D.vehicles}).`,
    `      --rate-stb R          Messages per second per set-top box (default ${D.rateStb}).`,
    `      --rate-vehicle R      Messages per second per vehicle (default ${D.rateVehicle}).`,
    `      --qos-mix MIX         QoS weights (default ${D.qosMix}).`,
    `      --seed S              Seed: same seed, same devices and payload sequences (default ${D.seed}).`,
    `      --duration SEC        Stop generating after SEC seconds (default ${D.durationSeconds} unless --messages).`,
    '      --messages K          Stop after K messages across the fleet.',
    "      --register            Register the devices first (config's data dir, reader role; the service",
    '                            may be running). Needs --config. Existing devices are kept as they are.',
    '  -c, --config FILE         Configuration file (for --register, and the default host/port).',
    '      --password P          Device password; "{deviceId}" is replaced by the id. Username = device id.',
    `                            Default with --register: "${D.registerPassword}"; otherwise anonymous.`,
    '      --id-prefix X         Prefix for device ids (two fleets side by side).',
    `      --max-inflight N      Outstanding messages per device before it holds back (default ${D.maxInflight}).`,
    '      --mqtt5 SHARE         Share of the devices (0..1) that connect with MQTT 5; the rest 3.1.1 (default 0).',
    '      --chaos-disconnect P  Probability per device per second of an abrupt disconnect.',
    '      --chaos-burst P:N     Probability per device per second of a burst of N messages.',
    '      --chaos-skew MS       Device clocks off by up to ±MS (payload "ts").',
    `      --drain-timeout SEC   Wait this long for outstanding acknowledgements at the end (default ${D.drainTimeoutSeconds}).`,
    '      --acked-out FILE      Write the acknowledged (deviceId, seq) ranges for "outpost audit --acked".',
    '      --run ID              Run id carried in every payload (default random).',
    SIM_COMMAND_HELP,
    '',
    'Every message is JSON with deviceId, a per-device seq, the run id and ts. Devices re-send',
    'unacknowledged QoS 1/2 messages in order after a drop. Progress goes to stderr; the JSON summary',
    'to stdout. Exit code 0 when every QoS 1/2 message was acknowledged (and, with --commands, every',
    'command that need not expire arrived), 1 otherwise.',
  ].join('\n'),
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    stb: { type: 'string' },
    vehicles: { type: 'string' },
    'rate-stb': { type: 'string' },
    'rate-vehicle': { type: 'string' },
    'qos-mix': { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    messages: { type: 'string' },
    register: { type: 'boolean' },
    config: { type: 'string', short: 'c' },
    password: { type: 'string' },
    'id-prefix': { type: 'string' },
    'max-inflight': { type: 'string' },
    mqtt5: { type: 'string' },
    'chaos-disconnect': { type: 'string' },
    'chaos-burst': { type: 'string' },
    'chaos-skew': { type: 'string' },
    'drain-timeout': { type: 'string' },
    'acked-out': { type: 'string' },
    run: { type: 'string' },
    ...SIM_COMMAND_OPTIONS,
  },
  async run(args, io) {
    const configPath = optionalString(args, 'config');
    const config = configPath === undefined ? undefined : await loadConfig(configPath);
    const tcp = config?.mqtt.listeners.find((l) => l.type === 'tcp');
    const register = flag(args, 'register');
    if (register && config === undefined) {
      throw new OutpostError('USAGE', '--register needs --config (to find the device registry)', {
        reason: 'register',
      });
    }
    const shape = fleetShape(args, tcp, register);
    let runId = '';
    const commands = fleetCommands(args, config, () => runId, io);
    if (register && config && configPath) await registerFirst(config, configPath, shape, io);

    const controller = new AbortController();
    const onSignal = () => {
      io.stderr.write('\nsim: stopping (draining outstanding acknowledgements; Ctrl-C again to quit now)\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
    try {
      const opts = fleetOptions(args, shape, tcp, controller.signal, stderrReporter(io));
      runId = opts.run as string;
      if (commands !== undefined) opts.commands = commands;
      const result = await runFleet(opts);
      const { summary, acked } = result;
      if (tty) io.stderr.write('\n');
      const out = optionalString(args, 'acked-out');
      if (out !== undefined) await writeAckedFile(out, acked);
      const commandsOut = optionalString(args, 'commands-out');
      if (commandsOut !== undefined && result.commands) await writeCommandsFile(commandsOut, result.commands);
      io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      return summary.unacked === 0 && summary.commands?.complete !== false ? 0 : 1;
    } finally {
      process.removeListener('SIGINT', onSignal);
    }
  },
};

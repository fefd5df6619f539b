/**
 * `outpost devices add|list|enable|disable|remove`: the device registry, through the same LMDB
 * environment the service uses. The log is opened with role "reader", so these work while
 * `outpost run` is running; the service sees each change within about a second (no restart).
 */
import { type Config, loadConfig } from '../../config/index.ts';
import { type DeviceInfo, type DeviceOverrides, type Devices, openDevices } from '../../devices/index.ts';
import { OutpostError } from '../../errors.ts';
import { flag, optionalCount, optionalString, requiredString } from '../args.ts';
import type { Command, CommandArgs } from '../command.ts';
import { openLogReader } from '../open-log.ts';

/** Longest password line read from stdin (bytes); MQTT caps passwords at 65535 bytes. */
const MAX_PASSWORD_BYTES = 65_535;

const CONFIG_HELP = '  -c, --config FILE  Configuration file (JSON); its dataDir locates the registry.';
const READER_HELP =
  'Works while "outpost run" is running on the same data dir; the service picks the change up within ~1 s.';

async function withDevices<T>(
  args: CommandArgs,
  fn: (devices: Devices, config: Config) => Promise<T>,
): Promise<T> {
  const path = requiredString(args, 'config');
  const config = await loadConfig(path);
  const log = await openLogReader(config, path);
  const devices = openDevices(log, { throttle: config.mqtt.authThrottle });
  try {
    return await fn(devices, config);
  } finally {
    devices.close();
    await log.close();
  }
}

function deviceIdArg(args: CommandArgs): string {
  const [id, ...extra] = args.positionals;
  if (id === undefined) throw new OutpostError('USAGE', 'missing device ID', { reason: 'id' });
  if (extra.length > 0) {
    throw new OutpostError('USAGE', `unexpected argument "${extra[0]}" (one device ID per call)`, {
      reason: 'id',
    });
  }
  return id;
}

/** Reads the first line of stdin (without its line ending). */
export async function readPasswordLine(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    const nl = buf.indexOf(0x0a);
    chunks.push(nl === -1 ? buf : buf.subarray(0, nl));
    size += nl === -1 ? buf.length : nl;
    if (size > MAX_PASSWORD_BYTES) {
      throw new OutpostError('DEVICE_INVALID', `password longer than ${MAX_PASSWORD_BYTES} bytes`, {
        reason: 'password',
      });
    }
    if (nl !== -1) break;
  }
  const line = Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
  if (line.length === 0) {
    throw new OutpostError('DEVICE_INVALID', 'no password on stdin (expected one line)', {
      reason: 'password',
    });
  }
  return line;
}

function overridesFrom(args: CommandArgs): DeviceOverrides | undefined {
  const topics = args.values['topic'];
  const rate = optionalCount(args, 'rate', { min: 1 });
  const burst = optionalCount(args, 'burst', { min: 1 });
  if ((rate === undefined) !== (burst === undefined)) {
    throw new OutpostError('USAGE', '--rate and --burst go together', { reason: 'rate' });
  }
  const o: DeviceOverrides = {};
  if (Array.isArray(topics) && topics.length > 0) o.topics = topics.map(String);
  if (rate !== undefined && burst !== undefined) o.rate = { perSecond: rate, burst };
  return o.topics === undefined && o.rate === undefined ? undefined : o;
}

function credentials(d: DeviceInfo): string {
  const parts = [];
  if (d.hasPassword) parts.push('password');
  if (d.certCn !== undefined) parts.push(`cert:${d.certCn}`);
  return parts.join(',') || '-';
}

function overridesText(d: DeviceInfo): string {
  const parts = [];
  if (d.overrides?.topics) parts.push(`topics=${d.overrides.topics.join(' ')}`);
  if (d.overrides?.rate) parts.push(`rate=${d.overrides.rate.perSecond}/s burst=${d.overrides.rate.burst}`);
  return parts.join(' ') || '-';
}

export function deviceTable(devices: readonly DeviceInfo[]): string {
  const head = ['ID', 'ENABLED', 'CREDENTIALS', 'UPDATED', 'OVERRIDES'];
  const rows = devices.map((d) => [
    d.id,
    d.enabled ? 'yes' : 'no',
    credentials(d),
    new Date(d.updatedAt).toISOString(),
    overridesText(d),
  ]);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export const devicesAddCommand: Command = {
  name: 'devices add',
  summary: 'Register a device with a password (read from stdin) and/or a TLS client certificate CN.',
  usage: 'ID --config FILE [--password-stdin] [--cert-cn CN] [--topic PATTERN]... [--rate N --burst M]',
  help: [
    'Options:',
    CONFIG_HELP,
    '      --password-stdin   Read the password from the first line of stdin (never from argv).',
    '      --cert-cn CN       Accept a verified client certificate whose CN or SAN is CN',
    '                         (a certificate naming the device ID itself is accepted too).',
    '      --topic PATTERN    Extra MQTT topic pattern this device may publish to (repeatable).',
    '      --rate N --burst M Own publish rate (token bucket) instead of the global one.',
    '',
    'ID: 1-128 characters from A-Z a-z 0-9 _ . : - . The MQTT user name of a password login is the ID.',
    'A device needs --password-stdin or --cert-cn. Example:',
    '  echo "$SECRET" | outpost devices add v1 --config outpost.json --password-stdin',
    '',
    READER_HELP,
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c' },
    'password-stdin': { type: 'boolean' },
    'cert-cn': { type: 'string' },
    topic: { type: 'string', multiple: true },
    rate: { type: 'string' },
    burst: { type: 'string' },
  },
  allowPositionals: true,
  async run(args, io) {
    requiredString(args, 'config');
    const id = deviceIdArg(args);
    const certCn = optionalString(args, 'cert-cn');
    const overrides = overridesFrom(args);
    const wantsPassword = flag(args, 'password-stdin');
    if (!wantsPassword && certCn === undefined) {
      throw new OutpostError(
        'DEVICE_NO_CREDENTIAL',
        `device ${id} needs a credential: --password-stdin (password on stdin) or --cert-cn CN`,
        { deviceId: id },
      );
    }
    const password = wantsPassword ? await readPasswordLine(io.stdin) : undefined;
    const info = await withDevices(args, (devices) =>
      devices.add(id, {
        ...(password !== undefined ? { password } : {}),
        ...(certCn !== undefined ? { certCn } : {}),
        ...(overrides !== undefined ? { overrides } : {}),
      }),
    );
    io.stdout.write(`added device ${info.id} (${credentials(info)})\n`);
    return 0;
  },
};

export const devicesListCommand: Command = {
  name: 'devices list',
  summary: 'List registered devices (never their credentials).',
  usage: '--config FILE [--json]',
  help: [
    'Options:',
    CONFIG_HELP,
    '      --json         A JSON array of {id, enabled, hasPassword, certCn?, overrides?, createdAt, updatedAt}.',
  ].join('\n'),
  options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
  async run(args, io) {
    const list = await withDevices(args, async (devices) => devices.list());
    io.stdout.write(flag(args, 'json') ? `${JSON.stringify(list)}\n` : deviceTable(list));
    return 0;
  },
};

function toggle(enabled: boolean): Command {
  const verb = enabled ? 'enable' : 'disable';
  return {
    name: `devices ${verb}`,
    summary: enabled
      ? 'Allow a disabled device to connect again.'
      : 'Refuse further logins of a device; the service disconnects it if connected.',
    usage: 'ID --config FILE',
    help: ['Options:', CONFIG_HELP, '', READER_HELP].join('\n'),
    options: { config: { type: 'string', short: 'c' } },
    allowPositionals: true,
    async run(args, io) {
      const id = deviceIdArg(args);
      await withDevices(args, (devices) => devices.setEnabled(id, enabled));
      io.stdout.write(`${verb}d device ${id}\n`);
      return 0;
    },
  };
}

export const devicesEnableCommand = toggle(true);
export const devicesDisableCommand = toggle(false);

export const devicesRemoveCommand: Command = {
  name: 'devices remove',
  summary: 'Delete a device and its credentials; the service disconnects it if connected.',
  usage: 'ID --config FILE',
  help: ['Options:', CONFIG_HELP, '', READER_HELP].join('\n'),
  options: { config: { type: 'string', short: 'c' } },
  allowPositionals: true,
  async run(args, io) {
    const id = deviceIdArg(args);
    await withDevices(args, (devices) => devices.remove(id));
    io.stdout.write(`removed device ${id}\n`);
    return 0;
  },
};

/** Listed in src/cli/commands/index.ts. */
export const devicesCommands: readonly Command[] = [
  devicesAddCommand,
  devicesListCommand,
  devicesDisableCommand,
  devicesEnableCommand,
  devicesRemoveCommand,
];

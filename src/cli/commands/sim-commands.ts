import type { Config } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { commandClusters } from '../../mirror/index.ts';
import { commandTopics, type FleetCommands, produceCommands } from '../../sim/index.ts';
import { optionalString } from '../args.ts';
import type { CommandArgs, CommandIO } from '../command.ts';

/** The `outpost sim` options of the command side, for the help text and the option table. */
export const SIM_COMMAND_HELP = [
  '      --commands N          Cloud-to-device commands: MQTT 3.1.1 devices keep a persistent session',
  '                            (CleanSession 0) and subscribe to devices/{deviceId}/commands/#; once all',
  '                            are subscribed, N commands per device are produced to commands.topic on',
  '                            every commands cluster of --config (needs commands.enabled).',
  '      --commands-qos Q      Command and subscription QoS, 1 or 2 (default 1).',
  '      --commands-ttl MS     TTL header on every command (default none).',
  '      --commands-expire K   Every K-th command of a device is stale (timestamp 60 s old, TTL 1 s):',
  '                            the gateway must report it expired.',
  '      --commands-rate R     Commands per second across the fleet (default: as fast as Kafka acks).',
  '      --commands-out FILE   Write what was produced and received, for "outpost audit --commands".',
].join('\n');

export const SIM_COMMAND_OPTIONS = {
  commands: { type: 'string' },
  'commands-qos': { type: 'string' },
  'commands-ttl': { type: 'string' },
  'commands-expire': { type: 'string' },
  'commands-rate': { type: 'string' },
  'commands-out': { type: 'string' },
} as const;

function positive(args: CommandArgs, name: string): number | undefined {
  const v = optionalString(args, name);
  if (v === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN;
  if (!(n > 0))
    throw new OutpostError('USAGE', `--${name} must be a positive number, got "${v}"`, { reason: name });
  return n;
}

/** The fleet's command side from the options, or undefined without --commands. */
export function fleetCommands(
  args: CommandArgs,
  config: Config | undefined,
  run: () => string,
  io: CommandIO,
): FleetCommands | undefined {
  const perDevice = positive(args, 'commands');
  if (perDevice === undefined) return undefined;
  if (config === undefined || !config.commands.enabled) {
    throw new OutpostError('USAGE', '--commands needs --config with commands.enabled (topic and clusters)', {
      reason: 'commands',
    });
  }
  const qos = positive(args, 'commands-qos') ?? 1;
  if (qos !== 1 && qos !== 2)
    throw new OutpostError('USAGE', '--commands-qos must be 1 or 2', { reason: 'commands-qos' });
  const ttlMs = positive(args, 'commands-ttl');
  const expireEvery = positive(args, 'commands-expire');
  const ratePerSecond = positive(args, 'commands-rate');
  const { topic, outcomes } = commandTopics(config);
  const clusters = Object.fromEntries(commandClusters({ config }).map(([a, c]) => [a, c.bootstrap]));
  return {
    qos,
    produce: async (devices) => {
      io.stderr.write(
        `sim: ${devices.length} device(s) subscribed; producing ${perDevice} command(s) each to ${topic} on ${Object.keys(clusters).join(', ')}\n`,
      );
      return produceCommands({
        clusters,
        topic,
        devices,
        perDevice: Math.floor(perDevice),
        run: run(),
        qos,
        ...(outcomes !== null ? { alsoCreate: [outcomes] } : {}),
        ...(ttlMs !== undefined ? { ttlMs: Math.floor(ttlMs) } : {}),
        ...(expireEvery !== undefined ? { expireEvery: Math.floor(expireEvery) } : {}),
        ...(ratePerSecond !== undefined ? { ratePerSecond } : {}),
      });
    },
  };
}

/**
 * `outpost offsets translate|failover`: exact offset translation through the mirror's index (LMDB
 * store `mirror.index` in the log's environment), opened as a reader: safe while `outpost run` runs.
 */
import { type Config, loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import { failover, openOffsetIndex } from '../../mirror/index.ts';
import { flag, optionalString, requiredCount, requiredString } from '../args.ts';
import type { Command } from '../command.ts';
import { openLogReader } from '../open-log.ts';

function checkCluster(config: Config, alias: string): void {
  if (!config.mirror.clusters[alias]) {
    const known = Object.keys(config.mirror.clusters).join(', ') || 'none';
    throw new OutpostError(
      'MIRROR_UNKNOWN_CLUSTER',
      `no cluster "${alias}" in mirror.clusters (known: ${known})`,
      {
        cluster: alias,
      },
    );
  }
}

/** Accepts the edge topic ("telemetry") or its remote name ("<edgeId>.telemetry"). */
function edgeTopic(config: Config, topic: string): string {
  const prefix = `${config.edgeId}.`;
  return topic.startsWith(prefix) && !config.log.topics[topic] ? topic.slice(prefix.length) : topic;
}

export const offsetsTranslateCommand: Command = {
  name: 'offsets translate',
  summary: 'Translate an offset exactly: edge → cluster, cluster → edge (--reverse), or cluster → cluster.',
  usage:
    '--config FILE --cluster C --topic T --partition P --offset N [--reverse] [--to-cluster C2] [--json]',
  help: [
    'Options:',
    '  -c, --config FILE    Configuration file (JSON); its dataDir locates the log and the index.',
    '      --cluster C      Mirror cluster alias (mirror.clusters).',
    '  -t, --topic T        Edge topic, or its remote name "<edgeId>.<topic>".',
    '  -p, --partition P    Partition (the same number on the edge and in every cluster).',
    '      --offset N       Offset of a record: on the edge, or in C with --reverse / --to-cluster.',
    '      --reverse        N is an offset in cluster C: print the edge offset of that record.',
    '      --to-cluster C2  N is an offset in cluster C: print the offset of the same record in C2.',
    '      --json           One JSON object instead of the bare number.',
    '',
    'Exit code 1 when the record is not (yet) mirrored or was pruned with retention.',
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c' },
    cluster: { type: 'string' },
    topic: { type: 'string', short: 't' },
    partition: { type: 'string', short: 'p' },
    offset: { type: 'string' },
    reverse: { type: 'boolean' },
    'to-cluster': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const cluster = requiredString(args, 'cluster');
    const partition = requiredCount(args, 'partition');
    const offset = requiredCount(args, 'offset');
    const reverse = flag(args, 'reverse');
    const toCluster = optionalString(args, 'to-cluster');
    if (reverse && toCluster !== undefined) {
      throw new OutpostError('USAGE', '--reverse and --to-cluster exclude each other');
    }
    const config = await loadConfig(path);
    const topic = edgeTopic(config, requiredString(args, 'topic'));
    checkCluster(config, cluster);
    if (toCluster !== undefined) checkCluster(config, toCluster);
    const log = await openLogReader(config, path);
    try {
      const t = openOffsetIndex(log);
      let out: Record<string, unknown>;
      let answer: number;
      if (toCluster !== undefined) {
        answer = t.between(cluster, toCluster, topic, partition, offset);
        out = { topic, partition, from: cluster, fromOffset: offset, to: toCluster, toOffset: answer };
      } else if (reverse) {
        answer = t.toEdge(cluster, topic, partition, offset);
        out = { topic, partition, cluster, remoteOffset: offset, edgeOffset: answer };
      } else {
        answer = t.toCluster(cluster, topic, partition, offset);
        out = { topic, partition, cluster, edgeOffset: offset, remoteOffset: answer };
      }
      out['remoteTopic'] = `${config.edgeId}.${topic}`;
      io.stdout.write(flag(args, 'json') ? `${JSON.stringify(out)}\n` : `${answer}\n`);
      return 0;
    } finally {
      await log.close();
    }
  },
};

export const offsetsFailoverCommand: Command = {
  name: 'offsets failover',
  summary: "Translate a consumer group's offsets exactly from one cluster to another (MM2 checkpoints).",
  usage: '--config FILE --group G --from C1 --to C2 [--commit] [--json]',
  help: [
    'Options:',
    '  -c, --config FILE  Configuration file (JSON).',
    '  -g, --group G      Consumer group on the central clusters.',
    '      --from C1      Cluster the group consumed from (e.g. dc-east).',
    '      --to C2        Cluster it moves to (e.g. dc-west).',
    '      --commit       Also commit the translated offsets to G on C2, only if G is empty there.',
    '      --json         Print the full result as JSON.',
    '',
    "Reads G's committed offsets on C1 for this edge's topics (<edgeId>.*), translates each one exactly",
    '(C1 → edge → C2) and writes MM2 checkpoints to "<C1>.checkpoints.internal" on C2, which',
    'RemoteClusterUtils.translateOffsets(C2 props, "<C1>", G) returns. Exit code 1 when a partition',
    'could not be translated or the commit was refused.',
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c' },
    group: { type: 'string', short: 'g' },
    from: { type: 'string' },
    to: { type: 'string' },
    commit: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const group = requiredString(args, 'group');
    const from = requiredString(args, 'from');
    const to = requiredString(args, 'to');
    if (from === to) throw new OutpostError('USAGE', '--from and --to must name different clusters');
    const config = await loadConfig(path);
    checkCluster(config, from);
    checkCluster(config, to);
    const log = await openLogReader(config, path);
    try {
      const r = await failover({
        config,
        translator: openOffsetIndex(log),
        group,
        from,
        to,
        commit: flag(args, 'commit'),
      });
      if (flag(args, 'json')) {
        io.stdout.write(`${JSON.stringify(r)}\n`);
      } else {
        for (const p of r.partitions) {
          const target = p.toOffset === null ? `not translated (${p.error})` : String(p.toOffset);
          io.stdout.write(`${p.topic} ${p.partition}: ${from} ${p.fromOffset} -> ${to} ${target}\n`);
        }
        if (r.partitions.length === 0)
          io.stdout.write(
            `group "${group}" has no committed offsets on ${from} for ${config.edgeId}.* topics\n`,
          );
        io.stdout.write(`${r.checkpointsWritten} checkpoints written to ${r.checkpointsTopic} on ${to}\n`);
        if (r.committed) io.stdout.write(`committed to group "${group}" on ${to}\n`);
        if (r.commitRefused) io.stderr.write(`${r.commitRefused}\n`);
      }
      const failed = r.partitions.some((p) => p.toOffset === null) || r.commitRefused !== undefined;
      return failed ? 1 : 0;
    } finally {
      await log.close();
    }
  },
};

export const offsetsCommands: readonly Command[] = [offsetsTranslateCommand, offsetsFailoverCommand];

import { loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import type { PartitionInfo } from '../../log/index.ts';
import { flag, optionalString, requiredString } from '../args.ts';
import type { Command } from '../command.ts';
import { openLogReader } from '../open-log.ts';

const COLUMNS = ['TOPIC', 'PARTITION', 'START', 'END', 'RECORDS', 'BYTES', 'RAW', 'OLDEST'] as const;

export function partitionTable(rows: readonly PartitionInfo[]): string {
  const cells = rows.map((p) => [
    p.topic,
    String(p.partition),
    String(p.startOffset),
    String(p.endOffset),
    String(p.records),
    String(p.bytes),
    String(p.rawBytes),
    p.oldestTimestamp === null ? '-' : new Date(p.oldestTimestamp).toISOString(),
  ]);
  const all = [[...COLUMNS], ...cells];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  // Text columns left-aligned, numbers right-aligned.
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i === 0 || i === 7 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${all.map(fmt).join('\n')}\n`;
}

export const logTopicsCommand: Command = {
  name: 'log topics',
  summary: "List the log's partitions: start/end offsets, record count, stored and raw bytes, oldest record.",
  usage: '--config FILE [--topic T] [--json]',
  help: [
    'Options:',
    '  -c, --config FILE  Configuration file (JSON); its dataDir locates the log.',
    '  -t, --topic T      Only this topic.',
    '      --json         One JSON array of {topic, partition, startOffset, endOffset, records, bytes,',
    '                     rawBytes, oldestTimestamp} instead of the table.',
    '',
    'BYTES is what the partition stores (compressed batches), RAW the same uncompressed.',
    '',
    'Opens the log as a reader: safe while "outpost run" is running on the same data dir.',
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c' },
    topic: { type: 'string', short: 't' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const topic = optionalString(args, 'topic');
    const config = await loadConfig(path);
    const log = await openLogReader(config, path);
    try {
      if (topic !== undefined && !log.topicNames().includes(topic)) {
        throw new OutpostError('UNKNOWN_TOPIC', `no topic "${topic}" in the log`, { topic });
      }
      const rows = log
        .partitions()
        .filter((p) => topic === undefined || p.topic === topic)
        .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
      io.stdout.write(flag(args, 'json') ? `${JSON.stringify(rows, null, 2)}\n` : partitionTable(rows));
      return 0;
    } finally {
      await log.close();
    }
  },
};

import { once } from 'node:events';
import { loadConfig } from '../../config/index.ts';
import { OutpostError } from '../../errors.ts';
import type { LogRecord, PartitionedLog } from '../../log/index.ts';
import { flag, optionalCount, requiredCount, requiredString } from '../args.ts';
import type { Command } from '../command.ts';
import { openLogReader } from '../open-log.ts';
import { recordToJson } from '../record-json.ts';

const BATCH = 500;

/** Writes one JSON line per record, waiting for 'drain' so a slow pipe bounds memory. */
async function emit(out: NodeJS.WritableStream, records: readonly LogRecord[]): Promise<void> {
  let chunk = '';
  for (const r of records) chunk += `${JSON.stringify(recordToJson(r))}\n`;
  if (!out.write(chunk)) await once(out, 'drain');
}

function checkPartition(log: PartitionedLog, topic: string, partition: number): void {
  if (!log.topicNames().includes(topic)) {
    throw new OutpostError('UNKNOWN_TOPIC', `no topic "${topic}" in the log (see "outpost log topics")`, {
      topic,
    });
  }
  const count = log.partitionCount(topic);
  if (partition >= count) {
    throw new OutpostError(
      'UNKNOWN_PARTITION',
      `topic "${topic}" has partitions 0..${count - 1}, not ${partition}`,
      { topic, partition },
    );
  }
}

export const logReadCommand: Command = {
  name: 'log read',
  summary: 'Print records of one partition as JSON lines.',
  usage: '--config FILE --topic T --partition P [--from N] [--limit K] [--follow]',
  help: [
    'Options:',
    '  -c, --config FILE    Configuration file (JSON); its dataDir locates the log.',
    '  -t, --topic T        Log topic.',
    '  -p, --partition P    Partition number.',
    "      --from N         First offset (default: the partition's start offset; lower values are",
    '                       clamped up to it).',
    '  -n, --limit K        At most K records (default: all up to the current end).',
    '  -f, --follow         Keep waiting for new records until Ctrl-C (or --limit is reached).',
    '',
    'Each line: {topic, partition, offset, timestamp, key, keyEncoding, headers, headerEncodings,',
    'value, valueEncoding}. Key, value and each header value are UTF-8 text when the bytes are valid',
    'UTF-8 ("utf8"), otherwise base64 ("base64"); key and keyEncoding are null when there is no key.',
    '',
    'Opens the log as a reader: safe while "outpost run" is running on the same data dir.',
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c' },
    topic: { type: 'string', short: 't' },
    partition: { type: 'string', short: 'p' },
    from: { type: 'string' },
    limit: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
  },
  async run(args, io) {
    const path = requiredString(args, 'config');
    const topic = requiredString(args, 'topic');
    const partition = requiredCount(args, 'partition');
    const from = optionalCount(args, 'from');
    let remaining = optionalCount(args, 'limit') ?? Number.POSITIVE_INFINITY;
    const follow = flag(args, 'follow');

    const config = await loadConfig(path);
    const log = await openLogReader(config, path);
    try {
      checkPartition(log, topic, partition);
      let offset = from ?? log.offsets(topic, partition).startOffset;
      // Step 1: everything stored now.
      while (remaining > 0) {
        const batch = log.read(topic, partition, offset, { maxRecords: Math.min(BATCH, remaining) });
        const last = batch.at(-1);
        if (last === undefined) break;
        await emit(io.stdout, batch);
        remaining -= batch.length;
        offset = last.offset + 1;
      }
      // Step 2 (--follow): durable records as they arrive, until a signal or the limit.
      if (follow && remaining > 0) {
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          for await (const batch of log.tail(topic, partition, offset, { signal: ac.signal })) {
            const take = batch.slice(0, Math.min(batch.length, remaining));
            await emit(io.stdout, take);
            remaining -= take.length;
            if (remaining <= 0) break;
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }
      return 0;
    } finally {
      await log.close();
    }
  },
};

/**
 * Produce requests (api key 0) around one prebuilt record batch, on @platformatic/kafka's exported
 * primitives: createAPI + Writer build the request, Connection sends it, and the package's own
 * produceV3 … produceV11 parseResponse reads the answer (a failed partition throws its ResponseError,
 * whose ProtocolError carries the Kafka error name in `apiId`, e.g. OUT_OF_ORDER_SEQUENCE_NUMBER).
 *
 *   Produce Request (Version: 3-8) => transactional_id acks timeout_ms [topic_data]
 *     transactional_id => NULLABLE_STRING   INT16 -1: null (idempotent, not transactional)
 *     acks             => INT16             -1: all in-sync replicas (KIP-98 requires it for idempotence)
 *     timeout_ms       => INT32             how long the leader waits for the replicas
 *     topic_data       => ARRAY             INT32 count, then per topic:
 *       name           => STRING            INT16 length + UTF-8
 *       partition_data => ARRAY             INT32 count, then per partition:
 *         index        => INT32
 *         records      => RECORDS           INT32 length + the batch bytes
 *
 *   Produce Request (Version: 9-11) => the same fields, flexible (KIP-482): every STRING, ARRAY and
 *     RECORDS becomes COMPACT_ (unsigned varint length + 1, 0 = null) and each structure ends with a
 *     TAG_BUFFER (no tagged fields: one 0 byte); request header v2, response header v1.
 *
 * One topic, one partition, one batch: Produce v3+ takes exactly one record batch per partition
 * (ProduceRequest.validateRecords answers INVALID_RECORD otherwise), and records must be magic 2.
 */

import {
  type Connection,
  createAPI,
  produceV3,
  produceV4,
  produceV5,
  produceV6,
  produceV7,
  produceV8,
  produceV9,
  produceV10,
  produceV11,
  Writer,
} from '@platformatic/kafka';
import { OutpostError } from '../../errors.ts';

export const PRODUCE_API_KEY = 0;
/** Versions this file writes: 3 (first with magic 2 only) to 11 (the newest the package reads). */
export const PRODUCE_MIN_VERSION = 3;
export const PRODUCE_MAX_VERSION = 11;
/** Produce versions ≥ 9 are flexible (compact fields, tagged fields, header v2). */
const FIRST_FLEXIBLE = 9;
const ACKS_ALL = -1;

export type ProducePartitionResponse = produceV11.ProduceResponsePartition;
type ProduceResponse = produceV11.ProduceResponse;
type ProduceParser = (typeof produceV11)['parseResponse'];

const PARSERS: Record<number, ProduceParser> = {
  3: produceV3.parseResponse,
  4: produceV4.parseResponse,
  5: produceV5.parseResponse,
  6: produceV6.parseResponse,
  7: produceV7.parseResponse,
  8: produceV8.parseResponse,
  9: produceV9.parseResponse,
  10: produceV10.parseResponse,
  11: produceV11.parseResponse,
};

function createRequest(
  flexible: boolean,
  timeoutMs: number,
  topic: string,
  partition: number,
  batch: Buffer,
): Writer {
  const w = Writer.create().appendString(null, flexible).appendInt16(ACKS_ALL).appendInt32(timeoutMs);
  // One topic with one partition: the arrays are written by hand (count, then the one entry).
  if (flexible) w.appendUnsignedVarInt(2);
  else w.appendInt32(1);
  w.appendString(topic, flexible);
  if (flexible) w.appendUnsignedVarInt(2);
  else w.appendInt32(1);
  w.appendInt32(partition);
  if (flexible) w.appendUnsignedVarInt(batch.length + 1);
  else w.appendInt32(batch.length);
  w.append(batch);
  if (flexible) w.appendTaggedFields().appendTaggedFields().appendTaggedFields();
  return w;
}

type RawProduceApi = ReturnType<typeof createAPI<[number, string, number, Buffer], ProduceResponse>>;
const apis = new Map<number, RawProduceApi>();

function produceApi(version: number): RawProduceApi {
  let api = apis.get(version);
  const parse = PARSERS[version];
  if (api === undefined) {
    if (parse === undefined)
      throw new OutpostError('FORMAT_UNSUPPORTED', `Produce v${version} is not one this client writes`);
    const flexible = version >= FIRST_FLEXIBLE;
    api = createAPI<[number, string, number, Buffer], ProduceResponse>(
      PRODUCE_API_KEY,
      version,
      (timeoutMs: number, topic: string, partition: number, batch: Buffer) =>
        createRequest(flexible, timeoutMs, topic, partition, batch),
      parse,
      flexible,
      flexible,
    );
    apis.set(version, api);
  }
  return api;
}

/** The highest Produce version both the broker (its ApiVersions range) and this file speak. */
export function produceVersionFor(brokerMin: number, brokerMax: number): number | undefined {
  const v = Math.min(brokerMax, PRODUCE_MAX_VERSION);
  return v >= Math.max(brokerMin, PRODUCE_MIN_VERSION) ? v : undefined;
}

/**
 * Sends one batch (already carrying its producer fields) to topic/partition over `conn`, acks=all;
 * resolves with the partition's response, rejects with the package's ResponseError when the broker
 * refused it, or its NetworkError / TimeoutError when no answer came.
 */
export async function sendBatch(
  conn: Connection,
  version: number,
  topic: string,
  partition: number,
  batch: Buffer,
  timeoutMs: number,
): Promise<ProducePartitionResponse> {
  const res = await produceApi(version).async(conn, timeoutMs, topic, partition, batch);
  const part = res.responses
    .find((t) => t.name === topic)
    ?.partitionResponses.find((p) => p.index === partition);
  if (part === undefined) {
    const text = `produce ${topic}/${partition}: the response has no such partition`;
    throw new OutpostError('MIRROR_PRODUCE_FAILED', text, { topic, partition, retriable: true });
  }
  return part;
}

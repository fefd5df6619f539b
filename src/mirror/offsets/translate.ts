/**
 * Exact offset translation over the mirror's index, by edge topic name (the remote name is
 * `<edgeId>.<topic>`). Record translations answer "where did this record land"; position
 * translations map committed-offset style positions (next offset to read).
 */
import { OutpostError } from '../../errors.ts';
import type { OffsetIndex } from './offset-index.ts';

export class OffsetTranslator {
  readonly index: OffsetIndex;

  constructor(index: OffsetIndex) {
    this.index = index;
  }

  /** Cluster offset of the edge record at `offset`. Throws MIRROR_NOT_TRANSLATABLE when not mirrored (yet). */
  toCluster(cluster: string, topic: string, partition: number, offset: number): number {
    const r = this.index.edgeToRemote(cluster, topic, partition, offset);
    if (r === undefined)
      throw this.#missing(cluster, topic, partition, offset, 'edge offset not mirrored to');
    return r;
  }

  /** Edge offset of the record at cluster offset `offset` (failback). */
  toEdge(cluster: string, topic: string, partition: number, offset: number): number {
    const e = this.index.remoteToEdge(cluster, topic, partition, offset);
    if (e === undefined)
      throw this.#missing(cluster, topic, partition, offset, 'no edge record at offset of');
    return e;
  }

  /** Offset in cluster `to` of the record at offset `offset` in cluster `from`, through the edge. */
  between(from: string, to: string, topic: string, partition: number, offset: number): number {
    return this.toCluster(to, topic, partition, this.toEdge(from, topic, partition, offset));
  }

  /** Position (committed offset) in `from` → position in `to`, exact; for consumer-group failover. */
  positionBetween(from: string, to: string, topic: string, partition: number, position: number): number {
    const edge = this.index.remotePositionToEdge(from, topic, partition, position);
    if (edge === undefined) throw this.#missing(from, topic, partition, position, 'nothing indexed on');
    const out = this.index.edgePositionToRemote(to, topic, partition, edge);
    if (out === undefined) throw this.#missing(to, topic, partition, edge, 'nothing indexed on');
    return out;
  }

  #missing(cluster: string, topic: string, partition: number, offset: number, what: string): OutpostError {
    return new OutpostError(
      'MIRROR_NOT_TRANSLATABLE',
      `${topic}/${partition}@${offset}: ${what} ${cluster}`,
      {
        cluster,
        topic,
        partition,
        offset,
      },
    );
  }
}

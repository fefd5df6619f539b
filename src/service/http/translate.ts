/** GET /v1/offsets/translate?cluster=&topic=&partition=&offset=&reverse= via the mirror's offset index. */
import type { ServiceState } from '../state.ts';

interface OffsetIndexApi {
  edgeToRemote(cluster: string, topic: string, partition: number, offset: number): number | undefined;
  remoteToEdge(cluster: string, topic: string, partition: number, offset: number): number | undefined;
}

const cache = new WeakMap<object, OffsetIndexApi>();

function indexOf(state: ServiceState): OffsetIndexApi | undefined {
  if (!state.log || !state.openOffsetIndex) return undefined;
  let idx = cache.get(state.log);
  if (!idx) {
    idx = state.openOffsetIndex(state.log) as OffsetIndexApi;
    cache.set(state.log, idx);
  }
  return idx;
}

export function translateOffset(state: ServiceState, q: URLSearchParams): { status: number; body: unknown } {
  const cluster = q.get('cluster') ?? '';
  const topic = q.get('topic') ?? '';
  const int = (name: string) => {
    const v = q.get(name);
    return v !== null && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  };
  const partition = int('partition');
  const offset = int('offset');
  const reverse = q.get('reverse') === 'true' || q.get('reverse') === '1';
  if (
    !cluster ||
    !topic ||
    !Number.isSafeInteger(partition) ||
    partition < 0 ||
    !Number.isSafeInteger(offset) ||
    offset < 0
  ) {
    return {
      status: 400,
      body: {
        error:
          'need cluster, topic (the edge topic), partition and offset (non-negative integers); reverse=true for remote→edge',
      },
    };
  }
  const idx = indexOf(state);
  if (!idx) return { status: 501, body: { error: 'the mirror offset index is not available in this build' } };
  const remoteTopic = `${state.config.edgeId}.${topic}`;
  if (reverse) {
    const edgeOffset = idx.remoteToEdge(cluster, topic, partition, offset);
    if (edgeOffset === undefined) {
      return {
        status: 404,
        body: {
          error: 'no edge record maps to that remote offset',
          cluster,
          topic,
          remoteTopic,
          partition,
          remoteOffset: offset,
        },
      };
    }
    return {
      status: 200,
      body: { cluster, topic, remoteTopic, partition, remoteOffset: offset, edgeOffset },
    };
  }
  const remoteOffset = idx.edgeToRemote(cluster, topic, partition, offset);
  if (remoteOffset === undefined) {
    return {
      status: 404,
      body: {
        error: 'that edge record is not mirrored (yet) to this cluster',
        cluster,
        topic,
        remoteTopic,
        partition,
        edgeOffset: offset,
      },
    };
  }
  return { status: 200, body: { cluster, topic, remoteTopic, partition, edgeOffset: offset, remoteOffset } };
}

/** GET /v1/offsets/translate?cluster=&topic=&partition=&offset=&reverse= via the mirror's exact offset index. */
import { isOutpostError } from '../../errors.ts';
import type { OffsetTranslator } from '../../mirror/index.ts';
import type { ServiceState } from '../state.ts';

const cache = new WeakMap<object, OffsetTranslator>();

function translatorOf(state: ServiceState): OffsetTranslator | undefined {
  if (state.mirror) return state.mirror.translator;
  if (!state.log || !state.openOffsetIndex) return undefined;
  let t = cache.get(state.log);
  if (!t) {
    t = state.openOffsetIndex(state.log);
    cache.set(state.log, t);
  }
  return t;
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
  if (!cluster || !topic || !Number.isSafeInteger(partition) || !Number.isSafeInteger(offset)) {
    return {
      status: 400,
      body: {
        error:
          'need cluster, topic (the edge topic), partition and offset (non-negative integers); reverse=true for remote→edge',
      },
    };
  }
  const t = translatorOf(state);
  if (!t) return { status: 503, body: { error: 'the log is not open' } };
  const remoteTopic = `${state.config.edgeId}.${topic}`;
  try {
    if (reverse) {
      const edgeOffset = t.toEdge(cluster, topic, partition, offset);
      return {
        status: 200,
        body: { cluster, topic, remoteTopic, partition, remoteOffset: offset, edgeOffset },
      };
    }
    const remoteOffset = t.toCluster(cluster, topic, partition, offset);
    return {
      status: 200,
      body: { cluster, topic, remoteTopic, partition, edgeOffset: offset, remoteOffset },
    };
  } catch (err) {
    if (isOutpostError(err, 'MIRROR_NOT_TRANSLATABLE')) {
      return {
        status: 404,
        body: { error: err.message, code: err.code, cluster, topic, remoteTopic, partition, offset },
      };
    }
    throw err;
  }
}

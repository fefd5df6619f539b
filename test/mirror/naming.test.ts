import { describe, expect, it } from 'vitest';
import {
  checkpointsTopic,
  isInternalTopic,
  offsetSyncsTopic,
  remoteHeartbeatsTopic,
  remoteTopic,
  topicSelected,
} from '../../src/mirror/naming.ts';

describe('mirror naming', () => {
  it('names remote and internal topics like DefaultReplicationPolicy', () => {
    expect(remoteTopic('gw-0042', 'vehicle-telemetry')).toBe('gw-0042.vehicle-telemetry');
    expect(remoteHeartbeatsTopic('gw-0042')).toBe('gw-0042.heartbeats');
    expect(checkpointsTopic('dc-east')).toBe('dc-east.checkpoints.internal');
    expect(offsetSyncsTopic('gw-0042')).toBe('mm2-offset-syncs.gw-0042.internal');
  });

  it('treats internal-looking names as never mirrored', () => {
    for (const t of ['x.internal', 'x-internal', '__consumer_offsets', '.hidden'])
      expect(isInternalTopic(t)).toBe(true);
    for (const t of ['telemetry', 'internal.x', 'a_b']) expect(isInternalTopic(t)).toBe(false);
    expect(topicSelected('x-internal', { include: ['*'], exclude: [] })).toBe(false);
  });

  it('selects topics by include and exclude globs', () => {
    const f = { include: ['vehicle-*', 'stb.?'], exclude: ['*-debug'] };
    expect(topicSelected('vehicle-telemetry', f)).toBe(true);
    expect(topicSelected('vehicle-debug', f)).toBe(false);
    expect(topicSelected('stb.a', f)).toBe(true);
    expect(topicSelected('stb.ab', f)).toBe(false);
    expect(topicSelected('stbxa', f)).toBe(false);
    expect(topicSelected('other', f)).toBe(false);
  });
});

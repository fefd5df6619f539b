import { describe, expect, it } from 'vitest';
import { classifyLanded, describeRuns } from '../../src/mirror/offsets/landed.ts';

describe('mirror landed-record classification', () => {
  it('classifies remote records into first copies, duplicate copies and foreign records', () => {
    // remote 10..: edge 5,6,7 (first), foreign, edge 5,6 (dups), edge 8 (first), edge 7 (dup)
    const c = classifyLanded(
      [
        { remote: 10, edge: 5 },
        { remote: 11, edge: 6 },
        { remote: 12, edge: 7 },
        { remote: 13, edge: undefined },
        { remote: 14, edge: 5 },
        { remote: 15, edge: 6 },
        { remote: 16, edge: 8 },
        { remote: 17, edge: 7 },
      ],
      4,
    );
    expect(c.first).toEqual([
      { edgeStart: 5, remoteStart: 10, count: 3 },
      { edgeStart: 8, remoteStart: 16, count: 1 },
    ]);
    expect(c.duplicates).toEqual([
      { edgeStart: 5, remoteStart: 14, count: 2 },
      { edgeStart: 7, remoteStart: 17, count: 1 },
    ]);
    expect(c.foreign).toBe(1);
    expect(c.maxEdge).toBe(8);
    expect(describeRuns(c.duplicates)).toBe('edge 5-6 @ remote 14, edge 7-7 @ remote 17');
  });

  it('treats every record at or below the landed maximum as a duplicate', () => {
    const c = classifyLanded(
      [
        { remote: 0, edge: 3 },
        { remote: 1, edge: 4 },
      ],
      3,
    );
    expect(c.duplicates).toEqual([{ edgeStart: 3, remoteStart: 0, count: 1 }]);
    expect(c.first).toEqual([{ edgeStart: 4, remoteStart: 1, count: 1 }]);
  });
});

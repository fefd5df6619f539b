/**
 * A set of positive integers kept as sorted, disjoint, non-adjacent closed ranges. Sequence numbers
 * mostly arrive in order, so adding the next number is O(1); anything else is a binary search.
 * Text form (used in the acked file): "1-50,52,54-60"; the empty set is "".
 */
export class RangeSet {
  #lo: number[] = [];
  #hi: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get rangeCount(): number {
    return this.#lo.length;
  }

  /** Largest member, or 0 when empty. */
  get max(): number {
    return this.#hi.at(-1) ?? 0;
  }

  has(n: number): boolean {
    const i = this.#find(n);
    return i >= 0 && n <= (this.#hi[i] as number);
  }

  /** Adds n; returns false when it was already present. */
  add(n: number): boolean {
    const last = this.#hi.length - 1;
    if (last >= 0 && n === (this.#hi[last] as number) + 1) {
      this.#hi[last] = n;
      this.#size++;
      return true;
    }
    const i = this.#find(n); // index of the last range starting at or before n, or -1
    if (i >= 0 && n <= (this.#hi[i] as number)) return false;
    const joinsLeft = i >= 0 && (this.#hi[i] as number) + 1 === n;
    const joinsRight = i + 1 < this.#lo.length && (this.#lo[i + 1] as number) - 1 === n;
    if (joinsLeft && joinsRight) {
      this.#hi[i] = this.#hi[i + 1] as number;
      this.#lo.splice(i + 1, 1);
      this.#hi.splice(i + 1, 1);
    } else if (joinsLeft) {
      this.#hi[i] = n;
    } else if (joinsRight) {
      this.#lo[i + 1] = n;
    } else {
      this.#lo.splice(i + 1, 0, n);
      this.#hi.splice(i + 1, 0, n);
    }
    this.#size++;
    return true;
  }

  addRange(lo: number, hi: number): void {
    const max = this.max;
    if (this.#lo.length === 0 || lo > max + 1) {
      this.#lo.push(lo);
      this.#hi.push(hi);
      this.#size += hi - lo + 1;
      return;
    }
    if (lo === max + 1) {
      this.#hi[this.#hi.length - 1] = hi;
      this.#size += hi - lo + 1;
      return;
    }
    for (let n = lo; n <= hi; n++) this.add(n);
  }

  ranges(): Array<[number, number]> {
    return this.#lo.map((lo, i) => [lo, this.#hi[i] as number]);
  }

  /** Members of this set missing from `other`, as ranges. */
  missingFrom(other: RangeSet): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const [lo, hi] of this.ranges()) {
      let start = -1;
      for (let n = lo; n <= hi; n++) {
        if (!other.has(n)) {
          if (start < 0) start = n;
        } else if (start >= 0) {
          out.push([start, n - 1]);
          start = -1;
        }
      }
      if (start >= 0) out.push([start, hi]);
    }
    return out;
  }

  toString(): string {
    return formatRanges(this.ranges());
  }

  static parse(text: string): RangeSet {
    const set = new RangeSet();
    if (text.trim() === '') return set;
    for (const part of text.split(',')) {
      const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
      if (!m) throw new SyntaxError(`bad range "${part}"`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) throw new SyntaxError(`bad range "${part}"`);
      set.addRange(lo, hi);
    }
    return set;
  }

  #find(n: number): number {
    let lo = 0;
    let hi = this.#lo.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#lo[mid] as number) <= n) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }
}

export function formatRanges(ranges: ReadonlyArray<readonly [number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
}

export function countRanges(ranges: ReadonlyArray<readonly [number, number]>): number {
  return ranges.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
}

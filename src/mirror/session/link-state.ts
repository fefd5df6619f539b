/**
 * Link state machine, as an explicit table of valid transitions (after kafkajs's
 * transactionStateMachine). One instance per cluster link; partitions report their cluster's state
 * unless they are refused (stopped) or waiting for tokens (throttled).
 *
 *   connecting  -> streaming | backing-off | stopped
 *   streaming   -> throttled | backing-off | connecting | stopped
 *   throttled   -> streaming | backing-off | connecting | stopped
 *   backing-off -> connecting | stopped
 *   stopped     -> (final)
 */
import { OutpostError } from '../../errors.ts';

export const LINK_STATES = ['connecting', 'streaming', 'throttled', 'backing-off', 'stopped'] as const;
export type LinkState = (typeof LINK_STATES)[number];

export const TRANSITIONS: Readonly<Record<LinkState, readonly LinkState[]>> = {
  connecting: ['streaming', 'backing-off', 'stopped'],
  streaming: ['throttled', 'backing-off', 'connecting', 'stopped'],
  throttled: ['streaming', 'backing-off', 'connecting', 'stopped'],
  'backing-off': ['connecting', 'stopped'],
  stopped: [],
};

export class LinkStateMachine {
  #state: LinkState = 'connecting';
  #since = Date.now();
  readonly #cluster: string;
  readonly #onChange: ((from: LinkState, to: LinkState) => void) | undefined;

  constructor(cluster: string, onChange?: (from: LinkState, to: LinkState) => void) {
    this.#cluster = cluster;
    this.#onChange = onChange;
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Epoch ms of the last transition. */
  get since(): number {
    return this.#since;
  }

  can(to: LinkState): boolean {
    return to === this.#state || TRANSITIONS[this.#state].includes(to);
  }

  /** Moves to `to`; staying in the same state is a no-op; an invalid move throws (a bug, not an outage). */
  to(to: LinkState): void {
    if (to === this.#state) return;
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw new OutpostError(
        'MIRROR_STATE',
        `mirror link ${this.#cluster}: invalid transition ${this.#state} -> ${to}`,
        {
          cluster: this.#cluster,
        },
      );
    }
    const from = this.#state;
    this.#state = to;
    this.#since = Date.now();
    this.#onChange?.(from, to);
  }
}

/** Exponential backoff with full jitter (AWS architecture blog): uniform in [0, min(max, base * 2^attempt)]. */
export function backoffMs(
  attempt: number,
  baseMs = 250,
  maxMs = 30_000,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(baseMs / 2, Math.floor(random() * cap));
}

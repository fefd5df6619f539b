/**
 * MQTT topic filters for sessions: matching a topic [MQTT-4.7.1-2, MQTT-4.7.1-3], the subscription
 * ACL ("is filter F within filter T": every topic F matches, T matches too), and a trie of
 * subscriptions so a publish finds its subscribers without scanning them all.
 */

/** [MQTT-4.7.2-1]: a filter starting with a wildcard does not match topics starting with "$". */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true; // also matches the parent level [MQTT-4.7.1-2]
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when every topic `filter` matches is matched by `allowed` (equal or narrower). */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = filter.split('/');
  const a = allowed.split('/');
  for (let i = 0; i < f.length; i++) {
    const al = a[i];
    const fl = f[i] as string;
    if (al === '#') return true;
    if (al === undefined) return false;
    if (fl === '#') {
      // "x/#" matches "x" too: within "x/+/..." only if the allowed filter is "x/#"-shaped.
      return false;
    }
    if (al === '+') continue;
    if (fl === '+' || fl !== al) return false;
  }
  // f is shorter or equal: equal length means equal-or-narrower; shorter only if allowed ends "/#" next.
  return f.length === a.length || (a.length === f.length + 1 && a[f.length] === '#');
}

/** `{deviceId}` in a device filter template, replaced by the device's id (which has no "/", "+", "#"). */
export function renderFilter(template: string, deviceId: string): string {
  return template.replaceAll('{deviceId}', deviceId);
}

export interface TrieEntry {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  sid?: number;
}

interface Node {
  children: Map<string, Node>;
  /** Subscriptions whose filter ends at this node, by client id. */
  here: Map<string, TrieEntry>;
}

const newNode = (): Node => ({ children: new Map(), here: new Map() });

/** Subscriptions by filter level ("+" and "#" are children like any other level). */
export class FilterTrie {
  readonly #root = newNode();
  #count = 0;

  get size(): number {
    return this.#count;
  }

  add(entry: TrieEntry): void {
    let node = this.#root;
    for (const level of entry.topic.split('/')) {
      let next = node.children.get(level);
      if (next === undefined) {
        next = newNode();
        node.children.set(level, next);
      }
      node = next;
    }
    if (!node.here.has(entry.clientId)) this.#count++;
    node.here.set(entry.clientId, entry);
  }

  remove(clientId: string, filter: string): void {
    const path: Array<[Node, string]> = [];
    let node: Node | undefined = this.#root;
    for (const level of filter.split('/')) {
      const next: Node | undefined = node.children.get(level);
      if (next === undefined) return;
      path.push([node, level]);
      node = next;
    }
    if (node.here.delete(clientId)) this.#count--;
    // Prune empty branches so a churn of clients does not leave the trie growing.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i] as [Node, string];
      const child = parent.children.get(level) as Node;
      if (child.here.size > 0 || child.children.size > 0) break;
      parent.children.delete(level);
    }
  }

  /** Every subscription whose filter matches `topic`. */
  match(topic: string): TrieEntry[] {
    const out: TrieEntry[] = [];
    const levels = topic.split('/');
    const dollar = topic.startsWith('$');
    const walk = (node: Node, i: number): void => {
      const hash = node.children.get('#');
      if (hash !== undefined && !(dollar && i === 0)) for (const e of hash.here.values()) out.push(e);
      if (i === levels.length) {
        for (const e of node.here.values()) out.push(e);
        return;
      }
      const exact = node.children.get(levels[i] as string);
      if (exact !== undefined) walk(exact, i + 1);
      const plus = node.children.get('+');
      if (plus !== undefined && !(dollar && i === 0)) walk(plus, i + 1);
    };
    walk(this.#root, 0);
    return out;
  }
}

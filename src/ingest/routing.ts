/**
 * Route patterns: MQTT topic → log topic + record key.
 *
 * Grammar (levels separated by "/", MQTT 3.1.1 §4.7.1 level semantics):
 *   pattern  = level *( "/" level ) [ "/#" ] | "#"
 *   level    = literal | "{" name "}" | "+"
 *   literal  = 1*( any char except "/" "+" "#" "{" "}" ) | ""      (empty levels are legal in MQTT)
 *   name     = [A-Za-z_][A-Za-z0-9_]*
 * `{name}` captures exactly one level (like "+"); a trailing "#" matches zero or more levels
 * (like MQTT's multi-level wildcard, [MQTT-4.7.1-2]: "sport/#" also matches "sport").
 * The key template is any string with `{name}` placeholders naming captures of the pattern.
 * The first route that matches wins.
 */

import type { RouteConfig } from '../config/index.ts';
import { OutpostError } from '../errors.ts';

export type PatternLevel =
  | { kind: 'literal'; text: string }
  | { kind: 'capture'; name: string }
  | { kind: 'single' };

export interface CompiledPattern {
  source: string;
  levels: PatternLevel[];
  /** Trailing "#": any number (≥ 0) of further levels. */
  multi: boolean;
  captures: string[];
}

export interface CompiledRoute extends CompiledPattern {
  index: number;
  topic: string;
  /** Key template split into literal text and capture references; null: no key. */
  key: Array<string | { capture: string }> | null;
  deviceAcl: boolean;
}

export interface RouteMatch {
  route: CompiledRoute;
  captures: Record<string, string>;
}

function routeInvalid(message: string): OutpostError {
  return new OutpostError('ROUTE_INVALID', message);
}

const CAPTURE = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Throws ROUTE_INVALID with a message naming the problem; config validation turns it into an issue. */
export function parsePattern(source: string): CompiledPattern {
  if (source.length === 0) throw routeInvalid('pattern must not be empty');
  const parts = source.split('/');
  const levels: PatternLevel[] = [];
  const captures: string[] = [];
  let multi = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '#') {
      if (i !== parts.length - 1) throw routeInvalid('"#" is only allowed as the last level');
      multi = true;
      continue;
    }
    if (part === '+') {
      levels.push({ kind: 'single' });
      continue;
    }
    const cap = CAPTURE.exec(part);
    if (cap) {
      const name = cap[1] as string;
      if (captures.includes(name)) throw routeInvalid(`capture {${name}} appears twice`);
      captures.push(name);
      levels.push({ kind: 'capture', name });
      continue;
    }
    if (/[+#{}]/.test(part)) {
      throw routeInvalid(
        `level "${part}" mixes text with "+", "#", "{" or "}" (captures take a whole level: "{name}")`,
      );
    }
    levels.push({ kind: 'literal', text: part });
  }
  return { source, levels, multi, captures };
}

export function parseKeyTemplate(template: string, captures: readonly string[]): CompiledRoute['key'] {
  const out: Array<string | { capture: string }> = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1] as string;
    if (!captures.includes(name)) {
      throw routeInvalid(`key template names {${name}}, which the pattern does not capture`);
    }
    if (m.index > last) out.push(template.slice(last, m.index));
    out.push({ capture: name });
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push(template.slice(last));
  if (/[{}]/.test(out.filter((p) => typeof p === 'string').join(''))) {
    throw routeInvalid('unbalanced "{" or "}" in key template');
  }
  return out;
}

/** Compiles config routes (in order). Throws Error naming `routes[i]` on a bad pattern or key. */
export function compileRoutes(routes: readonly RouteConfig[]): CompiledRoute[] {
  return routes.map((r, index) => {
    try {
      const p = parsePattern(r.match);
      const key = r.key === undefined ? null : parseKeyTemplate(r.key, p.captures);
      return { ...p, index, topic: r.topic, key, deviceAcl: r.deviceAcl };
    } catch (err) {
      throw new OutpostError('ROUTE_INVALID', `routes[${index}]: ${(err as Error).message}`, {
        path: `routes[${index}]`,
        cause: err,
      });
    }
  });
}

/** Matches a concrete topic (no wildcards) against one pattern; returns captures or null. */
export function matchPattern(p: CompiledPattern, topic: string): Record<string, string> | null {
  const parts = topic.split('/');
  if (parts.length < p.levels.length) return null;
  if (!p.multi && parts.length !== p.levels.length) return null;
  // [MQTT-4.7.2-1]: wildcards at the first level do not match topics starting with "$".
  if (topic.startsWith('$') && (p.levels.length === 0 || p.levels[0]?.kind !== 'literal')) return null;
  const captures: Record<string, string> = {};
  for (let i = 0; i < p.levels.length; i++) {
    const level = p.levels[i] as PatternLevel;
    const part = parts[i] as string;
    if (level.kind === 'literal') {
      if (level.text !== part) return null;
    } else if (level.kind === 'capture') {
      captures[level.name] = part;
    }
  }
  return captures;
}

export function matchRoute(routes: readonly CompiledRoute[], topic: string): RouteMatch | null {
  for (const route of routes) {
    const captures = matchPattern(route, topic);
    if (captures) return { route, captures };
  }
  return null;
}

export function renderKey(route: CompiledRoute, captures: Record<string, string>): string | null {
  if (route.key === null) return null;
  let s = '';
  for (const part of route.key) s += typeof part === 'string' ? part : (captures[part.capture] ?? '');
  return s;
}

/**
 * `{deviceId}` ACL: a device may publish where the route's deviceId capture equals its id, or where
 * the route opts out (deviceAcl: false), or where one of its override patterns (MQTT filters with
 * + and #) matches the topic. Anonymous identities skip the ACL.
 */
export function aclAllows(
  match: RouteMatch | null,
  topic: string,
  identity: { deviceId: string | null; anonymous: boolean },
  overrides: readonly CompiledPattern[],
): boolean {
  if (identity.anonymous) return true;
  for (const p of overrides) if (matchPattern(p, topic)) return true;
  // Unrouted publishes (collected in the `unrouted` topic) carry the device.id header; no capture to check.
  if (match === null) return true;
  if (!match.route.deviceAcl) return true;
  // Config validation rejects deviceAcl routes without a {deviceId} capture; deny if one slips through.
  if (!match.route.captures.includes('deviceId')) return false;
  return match.captures['deviceId'] === identity.deviceId;
}

/** Compiles MQTT topic filters ("a/+/b/#") as patterns; invalid ones are skipped and returned separately. */
export function compileFilters(filters: readonly string[]): {
  patterns: CompiledPattern[];
  invalid: string[];
} {
  const patterns: CompiledPattern[] = [];
  const invalid: string[] = [];
  for (const f of filters) {
    try {
      const p = parsePattern(f);
      if (p.captures.length > 0) throw routeInvalid('captures are not allowed in override filters');
      patterns.push(p);
    } catch (err) {
      if (!(err instanceof OutpostError)) throw err;
      invalid.push(f);
    }
  }
  return { patterns, invalid };
}

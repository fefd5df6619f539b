/**
 * The status page at "/": server-rendered HTML, refreshed in place every 2 s by a few lines of
 * vanilla JS polling /v1/status. No external resources (the CSP forbids them), phone-first layout.
 *
 * `renderMain` runs on both sides: here to render the first response, and in the browser, where its
 * source and that of the functions it calls (RENDERERS) are embedded with Function.prototype.toString
 * (Node's type stripping leaves plain JS). So they must stay self-contained: no imports, no outer
 * variables but each other, and every function renderMain calls must be listed in RENDERERS.
 */
import type { ServiceStatus } from './status.ts';

// biome-ignore lint/suspicious/noExplicitAny: the renderer reads module status shapes defensively.
type Loose = any;

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function fmtInt(v: unknown): string {
  const n = num(v);
  return n === null ? '–' : String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

function fmtBytes(v: unknown): string {
  let n = num(v);
  if (n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function fmtDur(v: unknown): string {
  const n = num(v);
  if (n === null) return '–';
  const t = Math.floor(n);
  const d = Math.floor(t / 86400);
  const h = Math.floor((t % 86400) / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m ${sec}s` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
}

function fmtTime(v: unknown): string {
  if (v === null || v === undefined || v === '') return 'never';
  const d = new Date(typeof v === 'number' ? v : String(v));
  return Number.isNaN(d.getTime()) ? esc(v) : d.toISOString().replace('T', ' ').slice(0, 19);
}

function kv(key: string, label: string, value: string, raw: unknown): string {
  return `<div class="kv"><span class="k">${label}</span><span class="v" data-k="${key}" data-raw="${esc(raw)}">${value}</span></div>`;
}

/** The mirror status flattened to rows {cluster, topic, partition, state, lagRecords, lagSeconds, lastAckedAt}. */
function mirrorRows(m: Loose): Loose[] {
  const rows: Loose[] = [];
  const addRows = (list: Loose, cluster: unknown) => {
    for (const r of Array.isArray(list) ? list : []) rows.push({ cluster: r.cluster ?? cluster, ...r });
  };
  if (Array.isArray(m)) addRows(m, undefined);
  else if (m && typeof m === 'object') {
    for (const key of ['links', 'partitions']) addRows(m[key], undefined);
    const cl = m.clusters;
    const list = Array.isArray(cl)
      ? cl
      : cl && typeof cl === 'object'
        ? Object.entries(cl).map(([k, v]: Loose) => ({ cluster: k, ...v }))
        : [];
    for (const c of list) {
      const name = c.cluster ?? c.name ?? c.alias;
      const parts = c.partitions ?? c.links ?? [];
      if (Array.isArray(parts) && parts.length > 0) addRows(parts, name);
      else if (Array.isArray(c.topics))
        for (const t of c.topics)
          addRows(
            (t.partitions ?? []).map((p: Loose) => ({ topic: t.topic, ...p })),
            name,
          );
      else rows.push({ cluster: name, ...c });
    }
  }
  return rows;
}

/** Rows per datacenter: the worst link state, summed record lag, the largest lag in seconds, the last ack. */
function datacenters(rows: Loose[]): Map<string, Loose> {
  const dcs = new Map<string, Loose>();
  const rank: Record<string, number> = {
    streaming: 0,
    connecting: 1,
    throttled: 1,
    'backing-off': 2,
    stopped: 3,
  };
  for (const r of rows) {
    const name = String(r.cluster ?? '?');
    const d = dcs.get(name) ?? {
      name,
      state: 'streaming',
      lagRecords: 0,
      lagSeconds: 0,
      lastAckedAt: null,
      parts: [],
    };
    if ((rank[r.state] ?? 2) > (rank[d.state] ?? 2)) d.state = r.state ?? 'unknown';
    d.lagRecords += num(r.lagRecords) ?? 0;
    d.lagSeconds = Math.max(d.lagSeconds, num(r.lagSeconds) ?? 0);
    const ack = r.lastAckedAt ? new Date(r.lastAckedAt).getTime() : null;
    if (ack !== null && (d.lastAckedAt === null || ack > d.lastAckedAt)) d.lastAckedAt = ack;
    d.parts.push(r);
    dcs.set(name, d);
  }
  return dcs;
}

/** Header with the readiness badge, the summary cards (ingest: tolerating a few spellings), the log-full alert. */
function cardsHtml(s: Loose): string {
  const ing = s.ingest ?? {};
  const devices = Array.isArray(ing.connectedDevices)
    ? ing.connectedDevices.length
    : (num(ing.connectedDevices) ?? num(ing.devices));
  const connections = num(ing.connections) ?? num(ing.connectedClients);
  const rate = num(ing.msgsPerSecond) ?? num(ing.messagesPerSecond) ?? num(ing.rate);
  const logInfo = s.log ?? {};
  let html = '';
  html += `<header><h1 data-k="edgeId">${esc(s.edgeId)}</h1><span class="badge ${s.ready ? 'ok' : 'down'}" data-k="ready">${s.ready ? 'ready' : esc(s.phase ?? 'not ready')}</span></header>`;
  html += '<section class="cards">';
  html += kv('uptime', 'Uptime', fmtDur(s.uptimeSeconds), s.uptimeSeconds);
  html += kv('rate', 'Ingest rate (msg/s, 10 s)', rate === null ? '–' : rate.toFixed(1), rate);
  html += kv('devices', 'Connected devices', fmtInt(devices), devices);
  html += kv('connections', 'MQTT connections', fmtInt(connections), connections);
  html += kv(
    'diskUsed',
    'Log file',
    `${fmtBytes(logInfo.fileBytes)} of ${fmtBytes(logInfo.maxBytes)}`,
    logInfo.fileBytes,
  );
  html += kv('diskFree', 'Disk free', fmtBytes(logInfo.diskFreeBytes), logInfo.diskFreeBytes);
  html += '</section>';
  if (logInfo.full) html += '<p class="alert down">The log is full: new messages are refused.</p>';
  return html;
}

/** The datacenter table; a row is "down" when its link is stopped or backing off, "lagging" past 60 s. */
function datacentersHtml(dcs: Map<string, Loose>): string {
  const LAG_WARN_SECONDS = 60;
  const health = (state: string, lagSeconds: number) =>
    state === 'stopped' || state === 'backing-off'
      ? 'down'
      : state !== 'streaming' || lagSeconds > LAG_WARN_SECONDS
        ? 'lagging'
        : 'ok';
  let html = '<h2>Datacenters</h2>';
  if (dcs.size === 0) return `${html}<p class="muted">No mirror links configured.</p>`;
  html +=
    '<table><thead><tr><th>Datacenter</th><th>Link</th><th>Lag (records)</th><th>Lag (s)</th><th>Last ack</th></tr></thead><tbody>';
  for (const d of dcs.values()) {
    const h = health(d.state, d.lagSeconds);
    html += `<tr class="${h}" data-dc="${esc(d.name)}"><td>${esc(d.name)}</td><td data-k="dc-state">${esc(d.state)}</td><td data-k="dc-lagRecords" data-raw="${d.lagRecords}">${fmtInt(d.lagRecords)}</td><td data-k="dc-lagSeconds" data-raw="${d.lagSeconds}">${d.lagSeconds.toFixed(1)}</td><td>${fmtTime(d.lastAckedAt)}</td></tr>`;
  }
  return `${html}</tbody></table>`;
}

/** The topic table: records, disk and each partition's start–end offsets. */
function topicsHtml(topics: Loose[]): string {
  let html =
    '<h2>Topics</h2><table><thead><tr><th>Topic</th><th>Records</th><th>Disk</th><th>Offsets (partition: start–end)</th></tr></thead><tbody>';
  for (const t of topics) {
    const offs = (t.partitions ?? [])
      .map(
        (p: Loose) =>
          `<span class="off" data-p="${p.partition}" data-end="${p.endOffset}">${p.partition}: ${p.startOffset}–${p.endOffset}</span>`,
      )
      .join(' ');
    html += `<tr data-topic="${esc(t.topic)}"><td>${esc(t.topic)}</td><td data-k="topic-records" data-raw="${t.records}">${fmtInt(t.records)}</td><td data-k="topic-bytes" data-raw="${t.bytes}">${fmtBytes(t.bytes)}</td><td class="offs">${offs}</td></tr>`;
  }
  return `${html}</tbody></table>`;
}

/** The command consumer (absent while commands are off): state, cluster, positions, outbox. */
function commandsHtml(c: Loose): string {
  if (!c || typeof c !== 'object') return '';
  const positions = Object.entries(c.positions ?? {})
    .map(([p, o]) => `<span class="off" data-p="${esc(p)}">${esc(p)}: ${esc(o)}</span>`)
    .join(' ');
  const down = c.state === 'waiting' || c.state === 'stopped';
  let html = '<h2>Commands</h2><table><thead><tr><th>Topic</th><th>State</th><th>Cluster</th>';
  html += '<th>Outbox</th><th>Next offset (partition: offset)</th></tr></thead><tbody>';
  html += `<tr class="${down ? 'down' : 'ok'}" data-k="commands"><td>${esc(c.topic)}</td><td data-k="commands-state">${esc(c.state)}</td><td data-k="commands-cluster">${esc(c.cluster ?? '–')}</td><td data-k="commands-outbox" data-raw="${esc(c.outboxPending)}">${fmtInt(c.outboxPending)}</td><td class="offs">${positions}</td></tr>`;
  return `${html}</tbody></table>`;
}

export function renderMain(s: Loose): string {
  return (
    cardsHtml(s) +
    datacentersHtml(datacenters(mirrorRows(s.mirror))) +
    commandsHtml(s.commands) +
    topicsHtml((s.topics ?? []) as Loose[]) +
    `<footer class="muted">Outpost ${esc(s.version)} · updated <span data-k="now">${fmtTime(s.now)}</span> UTC</footer>`
  );
}

/** Every function the browser needs to run renderMain, embedded by source into the page script. */
const RENDERERS = [
  esc,
  num,
  fmtInt,
  fmtBytes,
  fmtDur,
  fmtTime,
  kv,
  mirrorRows,
  datacenters,
  cardsHtml,
  datacentersHtml,
  topicsHtml,
  commandsHtml,
  renderMain,
];

const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--warn:#b26b00;--bad:#c62828;font-family:system-ui,sans-serif}
body{margin:0;padding:12px;max-width:960px;margin-inline:auto;line-height:1.4}
header{display:flex;align-items:center;gap:12px;flex-wrap:wrap}h1{font-size:1.4rem;margin:0}
h2{font-size:1.1rem;margin:18px 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;margin-top:10px}
.kv{border:1px solid #8884;border-radius:8px;padding:8px}.k{display:block;font-size:.8rem;opacity:.75}.v{font-size:1.25rem;font-weight:600}
table{width:100%;border-collapse:collapse;font-size:.9rem;display:block;overflow-x:auto}th,td{text-align:left;padding:6px;border-bottom:1px solid #8883;white-space:nowrap}
td.offs{white-space:normal}.off{display:inline-block;margin-right:8px;font-family:ui-monospace,monospace;font-size:.8rem}
.badge{padding:2px 8px;border-radius:10px;color:#fff;font-size:.85rem}.badge.ok{background:var(--ok)}.badge.down{background:var(--bad)}
tr.lagging td{background:#b26b0026}tr.lagging td:nth-child(2){color:var(--warn);font-weight:600}
tr.down td{background:#c6282826}tr.down td:nth-child(2){color:var(--bad);font-weight:600}
.alert{padding:8px;border-radius:6px}.alert.down{background:#c6282826;color:var(--bad)}.muted{opacity:.7;font-size:.85rem}
#stale{display:none;color:var(--bad)}body.stale #stale{display:inline}
`;

function clientScript(): string {
  return `
(function () {
${RENDERERS.map((f) => f.toString()).join('\n')}
  var q = new URLSearchParams(location.search).get('token');
  var url = '/v1/status' + (q ? '?token=' + encodeURIComponent(q) : '');
  var app = document.getElementById('app');
  function tick() {
    fetch(url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (s) {
      app.innerHTML = renderMain(s);
      window.outpostStatus = s;
      document.body.classList.remove('stale');
      document.body.dataset.updated = String(Date.now());
    }).catch(function () { document.body.classList.add('stale'); });
  }
  setInterval(tick, 2000);
})();
`;
}

let cachedScript: string | undefined;

export function renderPage(status: ServiceStatus): string {
  cachedScript ??= clientScript();
  const title = `Outpost ${status.edgeId}`.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head>
<body><main id="app">${renderMain(status)}</main>
<p class="muted"><span id="stale">Connection lost: showing the last values. </span>Refreshes every 2 s.</p>
<script>${cachedScript}</script></body></html>
`;
}

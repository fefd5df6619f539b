/**
 * `outpost service install [--root DIR]`: lays Outpost out the way systemd/outpost.service expects.
 *
 *   <root>/opt/outpost/                    the app: package.json, src/, config/ examples, systemd/, and
 *                                          node_modules with production dependencies only, including
 *                                          the pinned Node runtime (npm package "node")
 *   <root>/etc/outpost/outpost.json        the config (written only when absent: never overwritten)
 *   <root>/usr/lib/systemd/system/outpost.service
 *   <root>/usr/lib/sysusers.d/outpost.conf
 *   <root>/usr/lib/tmpfiles.d/outpost.conf
 *   <root>/usr/local/bin/outpost           a wrapper running the CLI with the pinned Node
 *
 * Only when root is "/" does it run systemd-sysusers, systemd-tmpfiles --create and
 * systemctl daemon-reload (it never enables or starts the unit: the operator does that).
 * Re-running it upgrades the app in place; the config and the data dir are left alone.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { OutpostError } from '../errors.ts';

export const APP_DIR = '/opt/outpost';
export const CONFIG_PATH = '/etc/outpost/outpost.json';
export const DATA_DIR = '/var/lib/outpost';

const APP_ENTRIES = [
  'package.json',
  'package-lock.json',
  'src',
  'config',
  'systemd',
  'README.md',
  'docs',
  'LICENSE',
];

export interface InstallOptions {
  /** Filesystem root to install into; "/" is the live system. */
  root: string;
  /** The source tree (defaults to this checkout). */
  source?: string;
  /** edgeId for a newly written config (defaults to the host name, sanitized). */
  edgeId?: string;
  /** Runs a command (only when root is "/"); injectable for tests. */
  exec?: (cmd: string, args: string[]) => void;
}

export interface InstallReport {
  root: string;
  appDir: string;
  configPath: string;
  configWritten: boolean;
  files: string[];
  ran: string[];
}

export const SOURCE_ROOT = resolve(import.meta.dirname, '../..');

/** Production package dirs (relative to source), from `npm ls --omit=dev` (offline: reads node_modules). */
function productionPackages(source: string): string[] {
  // npm ls exits non-zero on mere warnings (extraneous or invalid peer packages); its list is still right.
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: source,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  if (!r.stdout) {
    throw new OutpostError(
      'USAGE',
      `cannot list production packages in ${source} (npm ls failed: ${r.error?.message ?? `exit ${r.status}`})`,
    );
  }
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== source)
    .map((l) => relative(source, l))
    .filter((l) => l.startsWith('node_modules'));
}

export function sanitizeEdgeId(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return id === '' ? 'gateway' : id;
}

function initialConfig(source: string, edgeId: string): string {
  const example = JSON.parse(readFileSync(join(source, 'config/default.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const { $schema: _schema, ...rest } = example;
  return `${JSON.stringify({ $schema: `${APP_DIR}/config/outpost.schema.json`, ...rest, edgeId, dataDir: DATA_DIR }, null, 2)}\n`;
}

/** What every install step needs: where from, where to, and the list of what it placed. */
interface InstallTarget {
  source: string;
  /** A path under root. */
  at(p: string): string;
  files: string[];
}

/** Replaces the app's code and production dependencies (keeps nothing stale); returns the app dir. */
function installApp(t: InstallTarget): string {
  const appDir = t.at(APP_DIR);
  mkdirSync(appDir, { recursive: true });
  for (const entry of [...APP_ENTRIES, 'node_modules'])
    rmSync(join(appDir, entry), { recursive: true, force: true });
  for (const entry of APP_ENTRIES) {
    if (existsSync(join(t.source, entry))) {
      cpSync(join(t.source, entry), join(appDir, entry), { recursive: true, verbatimSymlinks: true });
      t.files.push(join(APP_DIR, entry));
    }
  }
  const packages = productionPackages(t.source);
  for (const pkg of packages) {
    // Nested packages are copied with their parent; copying them again is harmless but slow.
    if (packages.some((p) => p !== pkg && pkg.startsWith(`${p}/node_modules/`))) continue;
    cpSync(join(t.source, pkg), join(appDir, pkg), { recursive: true, verbatimSymlinks: true });
  }
  linkBins(t.source, appDir);
  t.files.push(join(APP_DIR, 'node_modules'));
  return appDir;
}

/** The .bin links npm made, kept only where they point into what we installed (node among them). */
function linkBins(source: string, appDir: string): void {
  const binDir = join(source, 'node_modules/.bin');
  const appBin = join(appDir, 'node_modules/.bin');
  mkdirSync(appBin, { recursive: true });
  for (const name of existsSync(binDir) ? readdirSync(binDir) : []) {
    const link = join(binDir, name);
    if (!lstatSync(link).isSymbolicLink()) continue;
    const target = readlinkSync(link);
    if (existsSync(resolve(appBin, target))) symlinkSync(target, join(appBin, name));
  }
  if (!existsSync(join(appBin, 'node'))) {
    throw new OutpostError(
      'USAGE',
      `the pinned Node runtime did not install under ${appDir}/node_modules/.bin/node`,
    );
  }
}

/** Writes the initial config only when there is none (never overwrites); returns whether it wrote. */
function writeConfigOnce(t: InstallTarget, edgeId: string | undefined): boolean {
  const configPath = t.at(CONFIG_PATH);
  mkdirSync(dirname(configPath), { recursive: true });
  if (existsSync(configPath)) return false;
  writeFileSync(configPath, initialConfig(t.source, edgeId ?? sanitizeEdgeId(hostname())), {
    mode: 0o640,
  });
  t.files.push(CONFIG_PATH);
  return true;
}

/** The systemd unit, sysusers and tmpfiles entries. */
function placeSystemdFiles(t: InstallTarget): void {
  const place = (from: string, to: string, mode = 0o644) => {
    mkdirSync(dirname(t.at(to)), { recursive: true });
    cpSync(join(t.source, from), t.at(to));
    chmodSync(t.at(to), mode);
    t.files.push(to);
  };
  place('systemd/outpost.service', '/usr/lib/systemd/system/outpost.service');
  place('systemd/outpost.sysusers', '/usr/lib/sysusers.d/outpost.conf');
  place('systemd/outpost.tmpfiles', '/usr/lib/tmpfiles.d/outpost.conf');
}

/** The CLI wrapper on PATH, running the CLI with the pinned Node. */
function writeCliWrapper(t: InstallTarget): void {
  const wrapper = '/usr/local/bin/outpost';
  mkdirSync(dirname(t.at(wrapper)), { recursive: true });
  writeFileSync(
    t.at(wrapper),
    `#!/bin/sh\n# Outpost CLI with its pinned Node runtime.\nexec ${APP_DIR}/node_modules/.bin/node ${APP_DIR}/src/cli/main.ts "$@"\n`,
    { mode: 0o755 },
  );
  t.files.push(wrapper);
}

/** Live system only: creates the user and the data dir, and reloads systemd; returns what it ran. */
function activate(exec: (cmd: string, args: string[]) => void): string[] {
  const ran: string[] = [];
  for (const [cmd, args] of [
    ['systemd-sysusers', ['/usr/lib/sysusers.d/outpost.conf']],
    ['systemd-tmpfiles', ['--create', '/usr/lib/tmpfiles.d/outpost.conf']],
    ['systemctl', ['daemon-reload']],
  ] as const) {
    exec(cmd, [...args]);
    ran.push(`${cmd} ${args.join(' ')}`);
  }
  return ran;
}

/** Runs the steps: app → config (never overwritten) → systemd files → CLI wrapper → activate (root "/" only). */
export function installService(opts: InstallOptions): InstallReport {
  const root = resolve(opts.root);
  const source = resolve(opts.source ?? SOURCE_ROOT);
  if (!existsSync(join(source, 'node_modules/node/bin/node'))) {
    throw new OutpostError(
      'USAGE',
      `no pinned Node runtime in ${source}/node_modules/node (run npm ci first)`,
    );
  }
  const t: InstallTarget = { source, at: (p) => join(root, p), files: [] };
  const appDir = installApp(t);
  const configWritten = writeConfigOnce(t, opts.edgeId);
  placeSystemdFiles(t);
  writeCliWrapper(t);
  const exec = opts.exec ?? ((cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'inherit' }));
  const ran = root === '/' ? activate(exec) : [];
  return { root, appDir, configPath: t.at(CONFIG_PATH), configWritten, files: t.files, ran };
}

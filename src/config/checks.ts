import { access, constants, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from './schema/index.ts';

/**
 * Checks that need the filesystem, run by `outpost check-config` (and available to the service at
 * startup). The schema itself stays pure. Relative paths resolve against the working directory,
 * like dataDir. Returns `path: reason` lines; empty when everything is in order.
 */
export async function checkConfigFiles(config: Config, cwd: string = process.cwd()): Promise<string[]> {
  const files: Array<{ path: string; file: string; pem: string }> = [];
  config.mqtt.listeners.forEach((l, i) => {
    if (l.type !== 'tls') return;
    files.push({ path: `mqtt.listeners[${i}].cert`, file: l.cert, pem: 'CERTIFICATE' });
    files.push({ path: `mqtt.listeners[${i}].key`, file: l.key, pem: 'PRIVATE KEY' });
    if (l.ca !== undefined) files.push({ path: `mqtt.listeners[${i}].ca`, file: l.ca, pem: 'CERTIFICATE' });
  });
  for (const [alias, c] of Object.entries(config.mirror.clusters)) {
    const base = `mirror.clusters.${alias}.tls`;
    if (c.tls?.ca !== undefined) files.push({ path: `${base}.ca`, file: c.tls.ca, pem: 'CERTIFICATE' });
    if (c.tls?.cert !== undefined) files.push({ path: `${base}.cert`, file: c.tls.cert, pem: 'CERTIFICATE' });
    if (c.tls?.key !== undefined) files.push({ path: `${base}.key`, file: c.tls.key, pem: 'PRIVATE KEY' });
  }
  const problems: string[] = [];
  for (const f of files) {
    const abs = resolve(cwd, f.file);
    let text: string;
    try {
      await access(abs, constants.R_OK);
      text = await readFile(abs, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code;
      problems.push(`${f.path}: ${why}: ${abs}`);
      continue;
    }
    // PEM labels: "CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY" (RFC 7468 §2).
    if (!new RegExp(`-----BEGIN [A-Z ]*${f.pem}-----`).test(text)) {
      problems.push(`${f.path}: not a PEM file containing a ${f.pem}: ${abs}`);
    }
  }
  // A missing dataDir is fine (the service creates it); an existing one must be writable.
  const dir = resolve(cwd, config.dataDir);
  try {
    await access(dir, constants.W_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`dataDir: not writable: ${dir}`);
  }
  return problems;
}

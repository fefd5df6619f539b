import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { kafkaClasspath } from './libs.ts';

const run = promisify(execFile);

/**
 * Compiles a single-file Java program against Kafka's jars (cached by content hash) and runs it.
 * The class name is the file name. Returns stdout; throws with stderr on a non-zero exit.
 */
export async function runJava(sourceFile: string, args: string[] = [], timeoutMs = 120_000): Promise<string> {
  const cp = kafkaClasspath();
  const hash = createHash('sha256').update(readFileSync(sourceFile)).digest('hex').slice(0, 16);
  const out = join(tmpdir(), 'outpost-java', hash);
  const cls = basename(sourceFile, '.java');
  if (!existsSync(join(out, `${cls}.class`))) {
    mkdirSync(out, { recursive: true });
    await run('javac', ['-cp', cp, '-d', out, sourceFile], { timeout: timeoutMs });
  }
  const { stdout } = await run('java', ['-Xmx256m', '-cp', `${out}:${cp}`, cls, ...args], {
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

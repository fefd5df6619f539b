import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { kafkaClasspath } from './libs.ts';

const run = promisify(execFile);

/** Throws a message saying what to install when `tool` (java, javac) is not on PATH. */
export async function requireJavaTool(tool: 'java' | 'javac'): Promise<void> {
  try {
    await run(tool, ['-version'], { timeout: 30_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `${tool} not found on PATH: install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless maven), then run test/kafka/fetch.sh`,
      );
    }
    throw err;
  }
}

/**
 * Compiles a single-file Java program against Kafka's jars and returns the directory holding its classes.
 * Cached by content hash under the OS temp dir; concurrent callers (parallel vitest workers) compile into
 * private directories and the first rename wins, so nobody ever sees a half-written class.
 */
export async function compileJava(sourceFile: string, timeoutMs = 120_000): Promise<string> {
  const cp = kafkaClasspath();
  const hash = createHash('sha256').update(readFileSync(sourceFile)).digest('hex').slice(0, 16);
  const root = join(tmpdir(), 'outpost-java');
  const out = join(root, hash);
  if (existsSync(join(out, `${basename(sourceFile, '.java')}.class`))) return out;
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(join(root, `${hash}-`));
  try {
    await requireJavaTool('javac');
    await run('javac', ['-cp', cp, '-d', work, sourceFile], { timeout: timeoutMs });
    try {
      renameSync(work, out);
    } catch (err) {
      // Another process won the race: its classes are identical (same source hash).
      if (!existsSync(out)) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

/**
 * Compiles a single-file Java program against Kafka's jars (cached by content hash) and runs it.
 * The class name is the file name. Returns stdout; throws with stderr on a non-zero exit.
 */
export async function runJava(sourceFile: string, args: string[] = [], timeoutMs = 120_000): Promise<string> {
  const classes = await compileJava(sourceFile, timeoutMs);
  const cls = basename(sourceFile, '.java');
  const { stdout } = await run('java', ['-Xmx256m', '-cp', `${classes}:${kafkaClasspath()}`, cls, ...args], {
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

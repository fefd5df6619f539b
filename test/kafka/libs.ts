import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Kafka version fetched by test/kafka/pom.xml. */
export const KAFKA_VERSION = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(
  readFileSync(join(here, 'pom.xml'), 'utf8'),
)?.[1] as string;

/** Directory holding Kafka's jars (test/kafka/fetch.sh fills it). */
export function kafkaLibDir(): string {
  return (
    process.env['OUTPOST_KAFKA_LIBS'] ??
    join(homedir(), '.cache', 'outpost', `kafka-${KAFKA_VERSION}`, 'libs')
  );
}

/** Java classpath with every Kafka jar; throws a clear message when the jars were never fetched. */
export function kafkaClasspath(): string {
  const dir = kafkaLibDir();
  if (!existsSync(join(dir, '.complete'))) {
    throw new Error(`Kafka jars not found in ${dir}: run test/kafka/fetch.sh (needs java 17+ and mvn)`);
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jar'))
    .map((f) => join(dir, f))
    .join(':');
}

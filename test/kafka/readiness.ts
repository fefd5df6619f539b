import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';

/** Polls a metadata request until it answers (→ cluster id) or the deadline / abort condition hits. */
export async function waitForMetadata(
  bootstrap: string,
  deadline: number,
  describe: () => string,
  aborted: () => boolean = () => false,
): Promise<string> {
  let last: unknown;
  while (Date.now() < deadline) {
    if (aborted()) throw new Error(`${describe()}: the broker process exited`);
    const admin = new Admin({
      clientId: 'outpost-harness',
      bootstrapBrokers: [bootstrap],
      retries: 0,
      connectTimeout: 2_000,
      requestTimeout: 5_000,
      timeout: 5_000,
    });
    try {
      const metadata = await admin.metadata({ topics: [] });
      if (metadata.brokers.size > 0) return metadata.id;
    } catch (err) {
      last = err;
    } finally {
      await admin.close().catch(() => {});
    }
    await sleep(250);
  }
  throw new Error(`${describe()}; last error: ${last instanceof Error ? last.message : String(last)}`);
}

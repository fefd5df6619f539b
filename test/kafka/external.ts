import type { KafkaCluster } from './harness.ts';

/** Name of the environment variable that points `name` at an existing cluster. */
export function bootstrapEnvVar(name: string): string {
  return `KAFKA_BOOTSTRAP_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** A cluster named by KAFKA_BOOTSTRAP_<NAME>: usable, but not ours to stop, kill or restart. */
export class ExternalCluster implements KafkaCluster {
  readonly name: string;
  readonly bootstrap: string;
  readonly clusterId: string;
  readonly external = true;
  readonly dataDir = null;

  constructor(name: string, bootstrap: string, clusterId: string) {
    this.name = name;
    this.bootstrap = bootstrap;
    this.clusterId = clusterId;
  }

  pid(): null {
    return null;
  }
  running(): boolean {
    return true;
  }
  private refuse(what: string): Promise<never> {
    return Promise.reject(
      new Error(
        `cluster ${this.name} is external (${bootstrapEnvVar(this.name)}=${this.bootstrap}): cannot ${what} it; ` +
          'tests that need an outage must start a private cluster with startCluster({ name: <unique name> })',
      ),
    );
  }
  stop(): Promise<void> {
    return this.refuse('stop');
  }
  kill(): Promise<void> {
    return this.refuse('kill');
  }
  start(): Promise<void> {
    return this.refuse('start');
  }
  async destroy(): Promise<void> {}
  logTail(): string {
    return `(external cluster ${this.name}: no local log)`;
  }
}

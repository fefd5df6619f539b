/** Names of the suite's shared clusters (test/kafka/global-setup.ts). */
export const SHARED_CLUSTER_NAMES = ['dc-east', 'dc-west'] as const;
export type SharedClusterName = (typeof SHARED_CLUSTER_NAMES)[number];

export interface SharedClusterInfo {
  name: string;
  /** 'host:port' */
  bootstrap: string;
  clusterId: string;
  /** Pointed at by KAFKA_BOOTSTRAP_<NAME> rather than started by the harness. */
  external: boolean;
}

export type SharedClusters = Record<SharedClusterName, SharedClusterInfo>;

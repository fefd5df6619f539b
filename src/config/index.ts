export { configJsonSchema, configJsonSchemaText } from './json-schema.ts';
export { formatIssues, loadConfig, parseConfig } from './load.ts';
export type { HttpConfig } from './schema/http.ts';
export { type Config, type ConfigInput, configSchema, EDGE_ID } from './schema/index.ts';
export type { LogConfig, TopicConfig } from './schema/log.ts';
export { TOPIC_NAME } from './schema/log.ts';
export type { ClusterConfig, MirrorConfig } from './schema/mirror.ts';
export type { ListenerConfig, MqttConfig } from './schema/mqtt.ts';
export type { RouteConfig } from './schema/routes.ts';

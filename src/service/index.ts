// Public face of the service: the lifecycle the CLI's `outpost run` calls, and the installer.
export { type InstallOptions, type InstallReport, installService } from './install.ts';
export { logOptionsFromConfig, logTopicSpecs } from './log-options.ts';
export { DEFAULT_LOG_FORMAT, LOG_FORMATS, type LogFormat } from './logger.ts';
export {
  defaultMetricNames,
  type MetricRow,
  metricsReferenceMarkdown,
  metricsReferenceRows,
  renderMetricsReference,
} from './metrics-docs.ts';
export { EXIT_FORCED, EXIT_OK, type RunServiceOptions, runService } from './run.ts';
export { VERSION } from './version.ts';

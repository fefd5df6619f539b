import type { Command } from '../command.ts';
import { auditCommand } from './audit.ts';
import { checkConfigCommand } from './check-config.ts';
import { configDocsCommand } from './config-docs.ts';
import { configSchemaCommand } from './config-schema.ts';
import { configShowCommand } from './config-show.ts';
import { devicesCommands } from './devices.ts';
import { logReadCommand } from './log-read.ts';
import { logTopicsCommand } from './log-topics.ts';
import { metricsDocsCommand } from './metrics-docs.ts';
import { offsetsCommands } from './offsets.ts';
import { runCommand } from './run.ts';
import { serviceInstallCommand } from './service.ts';
import { simCommand } from './sim.ts';

/**
 * Every CLI command, in the order `outpost --help` lists them. To add one: one import line above and
 * one entry below. Two-word names ("log read") form groups; `outpost log --help` lists a group.
 */
export const commands: readonly Command[] = [
  runCommand,
  serviceInstallCommand,
  checkConfigCommand,
  configSchemaCommand,
  configDocsCommand,
  configShowCommand,
  metricsDocsCommand,
  logTopicsCommand,
  logReadCommand,
  ...devicesCommands,
  ...offsetsCommands,
  simCommand,
  auditCommand,
];

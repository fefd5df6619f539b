import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { expect } from 'vitest';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

/**
 * Registers a device with a password through the CLI (`outpost devices add`, on the data directory
 * of a running service), as an operator does, and waits until the service lets it log in (it picks
 * registry changes up within about a second).
 */
export async function addDevice(configPath: string, port: number, deviceId: string, password: string) {
  const add = spawnSync(
    process.execPath,
    [MAIN, 'devices', 'add', deviceId, '--config', configPath, '--password-stdin'],
    { input: `${password}\n`, encoding: 'utf8' },
  );
  expect(add.status, add.stderr).toBe(0);
  await expect
    .poll(
      async () => {
        const probe = await mqtt
          .connectAsync({ host: '127.0.0.1', port, username: deviceId, password, reconnectPeriod: 0 })
          .catch(() => null);
        await probe?.endAsync();
        return probe !== null;
      },
      { timeout: 10_000 },
    )
    .toBe(true);
}

/** `outpost devices disable` (the service may be down: the registry is in its data directory). */
export function disableDevice(configPath: string, deviceId: string): void {
  const run = spawnSync(process.execPath, [MAIN, 'devices', 'disable', deviceId, '--config', configPath], {
    encoding: 'utf8',
  });
  expect(run.status, run.stderr).toBe(0);
}

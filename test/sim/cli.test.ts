import { describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

describe('sim and audit commands', () => {
  it('sim refuses --register without --config, with a usage error', async () => {
    const r = await cli(['sim', '--register']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--register needs --config');
  });

  it('sim refuses a malformed QoS mix and chaos burst', async () => {
    const mix = await cli(['sim', '--qos-mix', '3:1']);
    expect(mix.code).toBe(2);
    expect(mix.stderr).toContain('bad QoS mix entry "3:1"');
    const burst = await cli(['sim', '--chaos-burst', 'often']);
    expect(burst.code).toBe(2);
    expect(burst.stderr).toContain('--chaos-burst must be P:N');
  });

  it('audit needs --edge, --cluster or --commands, and not both --edge and --cluster', async () => {
    const none = await cli(['audit', '--config', 'config/default.json']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give --edge, --cluster ALIAS or --commands FILE');
    const both = await cli(['audit', '--config', 'config/default.json', '--edge', '--cluster', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give one of --edge or --cluster ALIAS');
  });

  it('sim --commands needs a config with commands enabled', async () => {
    const r = await cli(['sim', '--commands', '3', '--config', 'config/default.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--commands needs --config with commands.enabled');
  });

  it('audit refuses an acked file that is not one, naming the file', async () => {
    const r = await cli(['audit', '--config', 'config/default.json', '--edge', '--acked', 'package.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/package\.json is not a simulator acked file/);
  });
});

import { describe, expect, test } from 'vitest';
import { commands } from '../../src/cli/commands/index.ts';
import { outpost, STACK_FRAME } from './helpers.ts';

const groups = [...new Set(commands.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!))];

describe('cli › dispatch', () => {
  test('cli › "outpost --help" lists every registered command and exits 0', async () => {
    const r = await outpost(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: outpost <command>/);
    for (const c of commands) expect(r.stdout).toContain(`  ${c.name} `);
    expect(r.stderr).toBe('');
  });

  test.each(commands.map((c) => [c.name, c] as const))(
    'cli › "outpost %s --help" prints its usage and options and exits 0',
    async (name, cmd) => {
      for (const flag of ['--help', '-h']) {
        const r = await outpost([...name.split(' '), flag]);
        expect(r.code).toBe(0);
        expect(r.stdout.split('\n')[0]).toBe(`Usage: outpost ${name} ${cmd.usage}`.trimEnd());
        expect(r.stdout).toContain(cmd.summary);
        expect(r.stdout).toContain('--help');
        for (const option of Object.keys(cmd.options)) expect(r.stdout).toContain(`--${option}`);
        expect(r.stderr).toBe('');
      }
    },
  );

  test.each(groups.map((g) => [g]))(
    'cli › "outpost %s --help" lists the commands of the group',
    async (group) => {
      const r = await outpost([group, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`Usage: outpost ${group} <command> [options]`);
      for (const c of commands.filter((x) => x.name.startsWith(`${group} `)))
        expect(r.stdout).toContain(c.name);
      for (const c of commands.filter((x) => !x.name.startsWith(`${group} `))) {
        expect(r.stdout).not.toContain(`  ${c.name} `);
      }
    },
  );

  test.each(commands.map((c) => [c.name]))(
    'cli › "outpost %s" refuses an unknown option with one line and its usage, exit 2',
    async (name) => {
      const r = await outpost([...name.split(' '), '--no-such-option']);
      expect(r.code).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toBe(`outpost: ${name}: Unknown option '--no-such-option'`);
      expect(lines[1]).toMatch(new RegExp(`^Usage: outpost ${name}`));
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(STACK_FRAME);
    },
  );

  test('cli › an unknown command prints one line and the command list, exit 2', async () => {
    const r = await outpost(['frobnicate']);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('outpost: unknown command "frobnicate"');
    expect(lines[1]).toBe('Usage: outpost <command> [options]');
    expect(r.stdout).toBe('');
  });

  test('cli › an unknown subcommand of a group prints the group usage, exit 2', async () => {
    const group = groups[0]!;
    const r = await outpost([group, 'frobnicate']);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(`outpost: unknown command "${group} frobnicate"`);
    expect(lines[1]).toBe(`Usage: outpost ${group} <command> [options]`);
  });

  test('cli › no arguments at all is a usage error, exit 2', async () => {
    const r = await outpost([]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('outpost: missing command');
  });

  test('cli › a missing required option names it, exit 2', async () => {
    const r = await outpost(['check-config']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('outpost: check-config: missing required option --config');
  });

  test('cli › a malformed number option is a usage error naming the option', async () => {
    const r = await outpost(['log', 'read', '--config', 'x.json', '--topic', 't', '--partition', 'two']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(
      'outpost: log read: --partition must be a non-negative integer, got "two"',
    );
  });

  test('cli › --version prints the package version', async () => {
    const r = await outpost(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

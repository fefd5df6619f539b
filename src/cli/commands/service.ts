import { optionalString } from '../args.ts';
import type { Command } from '../command.ts';

export const serviceInstallCommand: Command = {
  name: 'service install',
  summary: 'Install Outpost as a systemd service (app in /opt/outpost, config in /etc/outpost, unit).',
  usage: '[--root DIR] [--edge-id ID]',
  help: [
    'Options:',
    '  --root DIR      Install under DIR instead of / (a scratch root, image build or DESTDIR).',
    '  --edge-id ID    edgeId for a newly written /etc/outpost/outpost.json (default: host name).',
    '',
    'Places the app with its pinned Node runtime and production dependencies under <root>/opt/outpost,',
    'writes <root>/etc/outpost/outpost.json only if it does not exist, installs the unit, sysusers and',
    'tmpfiles snippets under <root>/usr/lib, and a CLI wrapper at <root>/usr/local/bin/outpost.',
    'With --root / (the default) it also runs systemd-sysusers, systemd-tmpfiles --create and',
    'systemctl daemon-reload. It never enables or starts the service:',
    '  systemctl enable --now outpost',
    'Re-run it to upgrade; the config and the data in /var/lib/outpost are kept.',
  ].join('\n'),
  options: { root: { type: 'string' }, 'edge-id': { type: 'string' } },
  async run(args, io) {
    const { installService } = await import('../../service/index.ts');
    const edgeId = optionalString(args, 'edge-id');
    const report = installService({
      root: optionalString(args, 'root') ?? '/',
      ...(edgeId ? { edgeId } : {}),
    });
    const lines = [
      `installed Outpost into ${report.root}`,
      ...report.files.map((f) => `  ${f}`),
      report.configWritten
        ? `wrote a new config ${report.configPath}: set edgeId, topics, routes and mirror clusters`
        : `kept the existing config ${report.configPath}`,
      ...report.ran.map((r) => `ran: ${r}`),
      report.root === '/' ? 'next: systemctl enable --now outpost' : 'not activated (root is not /)',
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};

/**
 * `terracectl diags`: one tarball an operator attaches to a bug report:
 * resources, IPAM summary and check, every node's status, the controller's
 * status, remote clusters, versions, and agent logs it is pointed at, with
 * secrets removed (diags/redact.ts). Progress on a terminal, quiet in pipes.
 */
import { Command } from 'commander';
import type { CliContext } from '../context.js';

const repeatable = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** `terrace-diags-20261207T201403Z.tar.gz` */
export function defaultDiagsFile(now: Date): string {
  return `terrace-diags-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`;
}

export function diagsCommand(ctx: CliContext): Command {
  return new Command('diags')
    .description('write a tarball of resources, IPAM, node and controller status, remote clusters, versions and agent logs, secrets removed')
    .option('-f, --file <file>', 'where to write it (default terrace-diags-<time>.tar.gz)')
    .option('--log <[node=]file>', 'an agent log file to include (its last 2 MiB); repeatable', repeatable)
    .option('--journal <unit>', 'include the last lines of this systemd unit\'s journal on this host (e.g. terrace-agent); repeatable', repeatable)
    .option('--secrets-dir <dir>', 'a secrets directory (an agent\'s or the controller\'s --secrets-dir): its values are removed wherever they appear, the files are never included; repeatable', repeatable)
    .action(async (opts: { file?: string; log?: string[]; journal?: string[]; secretsDir?: string[] }) => {
      const [{ collectDiags }, { tarGz }, { resolveConnectionConfig }, { clientVersion }, { checkOutFile, writeOutFile }] = await Promise.all([
        import('../diags/collect.js'),
        import('../diags/tar.js'),
        import('@terrace/datastore'),
        import('../actions/version.js'),
        import('../diags/outfile.js'),
      ]);
      const file = opts.file ?? defaultDiagsFile(new Date());
      checkOutFile(file);
      const cfg = await resolveConnectionConfig(ctx.globals(), process.env);
      const members = await collectDiags(await ctx.datastore(), {
        logs: opts.log ?? [],
        journal: opts.journal ?? [],
        secretsDirs: opts.secretsDir ?? [],
        ...(cfg.password ? { etcdPassword: cfg.password } : {}),
        clientVersion: clientVersion(),
        progress: ctx.progress,
      });
      writeOutFile(file, tarGz(members));
      const failed = members.find((m) => m.name === 'errors.txt');
      ctx.print(`wrote ${file}: ${members.length} files${failed ? ' (some parts could not be read: see errors.txt in it)' : ''}`);
    });
}

import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function versionCommand(ctx: CliContext): Command {
  return new Command('version')
    .description('print the client version, and the cluster and etcd version when the datastore is reachable')
    .option('--client', 'print only the client version; never contact the datastore')
    .action(async (opts: { client?: boolean }) => {
      const { runVersion } = await import('../actions/version.js');
      await runVersion(ctx, opts.client === true);
    });
}

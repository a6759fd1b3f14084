/**
 * `terracectl cluster list` and `terracectl cluster status [NAME]`: remote
 * clusters as this cluster's controller last saw them (connection, last
 * sync, pools, blocks, gateway sessions, overlaps) and the pools held from
 * allocation. Exit status 4 when anything needs attention, so scripts can
 * alert. The work is loaded only when a subcommand runs.
 */
import { Command, Option } from 'commander';
import type { CliContext } from '../context.js';

type Format = 'table' | 'yaml' | 'json';

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'yaml', 'json']).default('table');
}

export function clusterCommand(ctx: CliContext): Command {
  const list = new Command('list')
    .description('one row per remote cluster: connection, last sync, pools, blocks, nodes, gateways, overlaps (exit status 4 when one needs attention)')
    .addOption(outputOption())
    .action(async (opts: { output: Format }) => {
      const { runCluster } = await import('../actions/cluster.js');
      await runCluster(ctx, 'list', undefined, opts.output);
    });
  const status = new Command('status')
    .description('every remote cluster (or one) in detail: endpoints, sync, pools, gateways and their sessions, overlaps, held pools (exit status 4 when one needs attention)')
    .argument('[name]', 'RemoteCluster name')
    .addOption(outputOption())
    .action(async (name: string | undefined, opts: { output: Format }) => {
      const { runCluster } = await import('../actions/cluster.js');
      await runCluster(ctx, 'status', name, opts.output);
    });
  return new Command('cluster').description('remote clusters (multi-cluster): sync state, gateway sessions, overlaps').addCommand(list).addCommand(status);
}

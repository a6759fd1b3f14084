import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function labelCommand(ctx: CliContext): Command {
  return new Command('label')
    .description('set (key=value) or remove (key-) labels on a resource')
    .argument('<kind>', 'resource kind')
    .argument('<name>', 'resource name')
    .argument('<changes...>', 'key=value to set, key- to remove')
    .option('--overwrite', 'allow changing the value of an existing label')
    .action(async (kind: string, name: string, changes: string[], opts: { overwrite?: boolean }) => {
      const { runLabel } = await import('../actions/label.js');
      await runLabel(ctx, kind, name, changes, opts.overwrite === true);
    });
}

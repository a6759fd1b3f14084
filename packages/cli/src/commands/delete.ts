import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { filenameOption } from './options.js';

export function deleteCommand(ctx: CliContext): Command {
  return new Command('delete')
    .description('delete a resource by kind and name, or every resource named in the manifests')
    .argument('[kind]', 'resource kind, e.g. ippool')
    .argument('[name]', 'resource name')
    .addOption(filenameOption())
    .action(async (kind: string | undefined, name: string | undefined, opts: { filename?: string[] }) => {
      const { runDelete } = await import('../actions/delete.js');
      await runDelete(ctx, kind, name, opts.filename ?? []);
    });
}

import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { filenameOption } from './options.js';

export function validateCommand(ctx: CliContext): Command {
  return new Command('validate')
    .description('check manifests offline (never contacts the datastore)')
    .addOption(filenameOption().makeOptionMandatory())
    .action(async (opts: { filename?: string[] }) => {
      const { runValidate } = await import('../actions/validate.js');
      await runValidate(ctx, opts.filename ?? []);
    });
}

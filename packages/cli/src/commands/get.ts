import { Command, Option } from 'commander';
import type { CliContext, OutputFormat } from '../context.js';
import { OUTPUT_FORMATS } from './options.js';

export function getCommand(ctx: CliContext): Command {
  return new Command('get')
    .description('list resources of a kind, or show one')
    .argument('<kind>', 'resource kind, e.g. ippools, bgppeer, node')
    .argument('[name]', 'resource name')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .action(async (kind: string, name: string | undefined, opts: { output: OutputFormat }) => {
      const { runGet } = await import('../actions/get.js');
      await runGet(ctx, kind, name, opts.output);
    });
}

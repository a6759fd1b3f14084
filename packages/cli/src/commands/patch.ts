import { Command } from 'commander';
import type { CliContext } from '../context.js';

export function patchCommand(ctx: CliContext): Command {
  return new Command('patch')
    .description('change a resource with a JSON merge patch (RFC 7386); the result is fully validated')
    .argument('<kind>', 'resource kind')
    .argument('<name>', 'resource name')
    .requiredOption('-p, --patch <json>', 'the merge patch, e.g. \'{"spec":{"disabled":true}}\'')
    .action(async (kind: string, name: string, opts: { patch: string }) => {
      const { runPatch } = await import('../actions/patch.js');
      await runPatch(ctx, kind, name, opts.patch);
    });
}

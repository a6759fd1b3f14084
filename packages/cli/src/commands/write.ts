/**
 * `apply`, `create` and `replace`: read every manifest, validate every
 * document, and only then write. Several documents are written in one etcd
 * transaction, so a refused document leaves the datastore untouched.
 */
import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { filenameOption } from './options.js';

export type WriteVerb = 'apply' | 'create' | 'replace';

const DESCRIPTIONS: Record<WriteVerb, string> = {
  apply: 'create or update the resources in the manifests',
  create: 'create the resources in the manifests (fails if any exists)',
  replace: 'replace existing resources with the manifests (fails if any is missing or stale)',
};

interface WriteOpts {
  filename?: string[];
  dryRun?: boolean;
}

export function writeCommand(verb: WriteVerb, ctx: CliContext): Command {
  return new Command(verb)
    .description(DESCRIPTIONS[verb])
    .addOption(filenameOption().makeOptionMandatory())
    .option('--dry-run', 'validate and check against the datastore, but write nothing')
    .action(async (opts: WriteOpts) => {
      const { runWrite } = await import('../actions/write.js');
      await runWrite(ctx, verb, opts.filename ?? [], opts.dryRun === true);
    });
}

/**
 * delete KIND NAME, or delete -f FILE: every named resource must exist
 * (checked before anything is deleted), then each is deleted.
 */
import { type Kind, TerraceError, resolveKind, resourceRef } from '@terrace/api';
import type { CliContext } from '../context.js';
import { loadManifests } from './manifests.js';

export async function runDelete(ctx: CliContext, kindArg: string | undefined, name: string | undefined, files: readonly string[]): Promise<void> {
  let targets: { kind: Kind; name: string }[];
  if (files.length > 0) {
    if (kindArg !== undefined) throw new TerraceError('Invalid', 'give either -f FILE or KIND NAME, not both');
    targets = (await loadManifests(files)).map((r) => ({ kind: r.kind, name: r.metadata.name }));
  } else {
    if (kindArg === undefined || name === undefined) throw new TerraceError('Invalid', 'delete needs KIND NAME or -f FILE');
    targets = [{ kind: resolveKind(kindArg), name }];
  }
  const { store } = await ctx.datastore();
  if (targets.length > 1) {
    // A missing one refuses the whole command before anything is deleted.
    for (const t of targets) await store.get(t.kind, t.name);
  }
  for (const t of targets) {
    await store.delete(t.kind, t.name);
    ctx.print(`${resourceRef(t.kind, t.name)} deleted`);
  }
}

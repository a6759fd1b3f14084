/** label KIND NAME k=v ... | k-: a read-modify-write guarded by the read resourceVersion. */
import { resolveKind, resourceRef, validateResource } from '@terrace/api';
import type { CliContext } from '../context.js';
import { applyLabelChanges, parseLabelChange } from '../labels.js';

export async function runLabel(ctx: CliContext, kindArg: string, name: string, args: readonly string[], overwrite: boolean): Promise<void> {
  const kind = resolveKind(kindArg);
  const ref = resourceRef(kind, name);
  const changes = args.map(parseLabelChange);
  const { store } = await ctx.datastore();
  const current = await store.get(kind, name);
  const before = current.metadata.labels ?? {};
  const labels = applyLabelChanges(ref, before, changes, overwrite);
  if (JSON.stringify(labels) === JSON.stringify(before)) {
    ctx.print(`${ref} not labeled`);
    return;
  }
  const { labels: _old, ...rest } = current.metadata;
  const metadata = Object.keys(labels).length > 0 ? { ...rest, labels } : rest;
  const next = validateResource({ ...current, metadata });
  next.metadata.resourceVersion = current.metadata.resourceVersion;
  await store.replace(next);
  ctx.print(`${ref} labeled`);
}

/**
 * apply/create/replace. apply writes everything with store.applyAll (one
 * transaction up to MAX_DOCS_PER_TXN documents, several beyond, each checked
 * before the first is written). create and replace of one document use the
 * store's exact create/replace (AlreadyExists, NotFound, stale
 * resourceVersion); with several documents they first check that each does
 * (not) exist and then write them all with applyAll.
 */
import { type Resource, TerraceError } from '@terrace/api';
import { MAX_DOCS_PER_TXN, type WriteOptions } from '@terrace/datastore';
import type { CliContext } from '../context.js';
import type { WriteVerb } from '../commands/write.js';
import { loadManifests, refOf } from './manifests.js';

export async function runWrite(ctx: CliContext, verb: WriteVerb, files: readonly string[], dryRun: boolean): Promise<void> {
  const resources = await loadManifests(files, (label, done, total) => ctx.progress(label, done, total));
  const { store } = await ctx.datastore();
  const opts: WriteOptions = { dryRun };
  const suffix = dryRun ? ' (dry run)' : '';
  let results: { resource: Resource; action: string }[];
  if (verb === 'apply') {
    results = await writingAll(ctx, resources.length, (onWritten) => store.applyAll(resources, { ...opts, onWritten }));
  } else if (resources.length === 1) {
    const r = resources[0] as Resource;
    results = verb === 'create' ? [{ resource: await store.create(r, opts), action: 'created' }] : [{ resource: await store.replace(r, opts), action: 'replaced' }];
  } else {
    for (const [i, r] of resources.entries()) {
      await checkExistence(ctx, r, verb === 'replace');
      ctx.progress('checking', i + 1, resources.length);
    }
    const applied = await writingAll(ctx, resources.length, (onWritten) => store.applyAll(resources, { ...opts, onWritten }));
    results = applied.map((a) => ({ resource: a.resource, action: verb === 'create' ? 'created' : 'replaced' }));
  }
  for (const { resource, action } of results) ctx.print(`${refOf(resource)} ${action}${suffix}`);
}

/** The transactions of a multi-document write: a step of their own in the progress, since they can take a while. */
async function writingAll<T>(ctx: CliContext, n: number, write: (onWritten: (done: number, total: number) => void) => Promise<T>): Promise<T> {
  const how = n > MAX_DOCS_PER_TXN ? `in transactions of up to ${MAX_DOCS_PER_TXN}` : 'in one transaction';
  const label = `writing ${n} document${n === 1 ? '' : 's'} ${how}`;
  ctx.progress(label, 0, n);
  const out = await write((done) => {
    if (done < n) ctx.progress(label, done, n);
  });
  ctx.progress(label, n, n);
  return out;
}

async function checkExistence(ctx: CliContext, r: Resource, mustExist: boolean): Promise<void> {
  const { store } = await ctx.datastore();
  let exists = true;
  try {
    await store.get(r.kind, r.metadata.name);
  } catch (e) {
    if (!(e instanceof TerraceError && e.code === 'NotFound')) throw e;
    exists = false;
  }
  if (mustExist && !exists) throw new TerraceError('NotFound', `${refOf(r)} not found; nothing was replaced`, { resource: refOf(r) });
  if (!mustExist && exists) throw new TerraceError('AlreadyExists', `${refOf(r)} already exists; nothing was created (use apply or replace)`, { resource: refOf(r) });
}

/**
 * patch KIND NAME -p JSON: read, merge (RFC 7386), validate the result as a
 * whole, then replace guarded by the resourceVersion that was read, so a
 * concurrent change makes the patch fail with Conflict instead of being lost.
 */
import { type Resource, TerraceError, resolveKind, resourceRef, validateResource } from '@terrace/api';
import type { CliContext } from '../context.js';
import { mergePatch } from '../mergepatch.js';

function parsePatch(ref: string, text: string): Record<string, unknown> {
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch (e) {
    throw new TerraceError('Invalid', `${ref}: patch is not valid JSON: ${(e as Error).message}`, { resource: ref });
  }
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new TerraceError('Invalid', `${ref}: patch must be a JSON object, e.g. '{"spec":{"disabled":true}}'`, { resource: ref });
  }
  return patch as Record<string, unknown>;
}

/** Identity fields a patch may not change: they would make it a different object. */
export function checkIdentity(ref: string, before: Resource, after: Record<string, unknown>): void {
  const meta = (after.metadata ?? {}) as Record<string, unknown>;
  const same: [string, unknown, unknown][] = [
    ['apiVersion', before.apiVersion, after.apiVersion],
    ['kind', before.kind, after.kind],
    ['metadata.name', before.metadata.name, meta.name],
    ['metadata.uid', before.metadata.uid, meta.uid],
    ['metadata.creationTimestamp', before.metadata.creationTimestamp, meta.creationTimestamp],
  ];
  for (const [field, was, now] of same) {
    if (was !== now) throw new TerraceError('Invalid', `${ref}: ${field} cannot be changed by a patch`, { resource: ref, field });
  }
}

export async function runPatch(ctx: CliContext, kindArg: string, name: string, patchText: string): Promise<void> {
  const kind = resolveKind(kindArg);
  const ref = resourceRef(kind, name);
  const patch = parsePatch(ref, patchText);
  const { store } = await ctx.datastore();
  const current = await store.get(kind, name);
  const merged = mergePatch(current, patch) as Record<string, unknown>;
  checkIdentity(ref, current, merged);
  const next = validateResource(merged);
  // Guard the write with the version we read, unless the patch names one itself.
  next.metadata.resourceVersion ??= current.metadata.resourceVersion;
  await store.replace(next);
  ctx.print(`${ref} patched`);
}

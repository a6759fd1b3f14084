/** validate -f FILE: the checks apply makes before it writes, with no datastore at all. */
import type { CliContext } from '../context.js';
import { loadManifests, refOf } from './manifests.js';

export async function runValidate(ctx: CliContext, files: readonly string[]): Promise<void> {
  const resources = await loadManifests(files);
  for (const r of resources) ctx.print(`${refOf(r)} valid`);
}

/**
 * Reading manifests for apply/create/replace/delete/validate: every file is
 * read and every document decoded and validated before anything is written,
 * and the set as a whole is checked for what single documents cannot see
 * (the same resource twice, two pools in the input that overlap, a pool
 * holding the address of a Node in the input).
 */
import { readFile } from 'node:fs/promises';
import {
  type IPPool,
  type Resource,
  TerraceError,
  type TerraceNode,
  decodeManifests,
  firstPoolHoldingNode,
  firstPoolOverlap,
  overlapError,
  poolHoldsNodeError,
  resourceRef,
} from '@terrace/api';
import { readStdin } from '../stdin.js';

async function readSource(file: string): Promise<{ text: string; source: string }> {
  if (file === '-') return { text: await readStdin(), source: '<stdin>' };
  try {
    return { text: await readFile(file, 'utf8'), source: file };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? (e as Error).message);
    throw new TerraceError('Invalid', `cannot read ${file}: ${why}`);
  }
}

/**
 * Every resource of every file, in order, validated one by one and as a set.
 * `progress` hears of each document validated, file by file.
 */
export async function loadManifests(files: readonly string[], progress?: (label: string, done: number, total: number) => void): Promise<Resource[]> {
  if (files.length === 0) throw new TerraceError('Invalid', 'no manifest given: use -f FILE (or -f - for standard input)');
  if (files.filter((f) => f === '-').length > 1) throw new TerraceError('Invalid', 'standard input (-f -) can be read only once');
  const resources: Resource[] = [];
  for (const file of files) {
    const { text, source } = await readSource(file);
    resources.push(...decodeManifests(text, source, progress && ((done, total) => progress(`validating ${source}`, done, total))));
  }
  if (resources.length === 0) throw new TerraceError('Invalid', `no resources found in ${files.join(', ')}`);
  checkSet(resources);
  return resources;
}

/** Rules across the documents of one input; the datastore checks them again against stored state. */
export function checkSet(resources: readonly Resource[]): void {
  const seen = new Set<string>();
  for (const r of resources) {
    const ref = resourceRef(r.kind, r.metadata.name);
    if (seen.has(ref)) throw new TerraceError('Invalid', `${ref}: appears more than once in the input`, { resource: ref });
    seen.add(ref);
  }
  const pools = resources.filter((r): r is IPPool => r.kind === 'IPPool');
  const overlap = firstPoolOverlap(pools);
  if (overlap) throw overlapError(overlap.pool, overlap.other);
  const nodes = resources.filter((r): r is TerraceNode => r.kind === 'Node');
  const holding = firstPoolHoldingNode(pools, nodes);
  if (holding) throw poolHoldsNodeError(holding.pool, holding.addr);
}

export function refOf(r: Resource): string {
  return resourceRef(r.kind, r.metadata.name);
}

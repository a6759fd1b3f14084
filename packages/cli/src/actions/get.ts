/** get KIND [NAME]: an aligned table by default, or YAML/JSON that apply accepts back. */
import { createRequire } from 'node:module';
import { API_VERSION, type Resource, encodeResources, resolveKind } from '@terrace/api';
import type { CliContext, OutputFormat } from '../context.js';
import { openReader } from '../datastore.js';
import { tableFor } from '../output/columns.js';

const requireHere = createRequire(import.meta.url);

/**
 * A listing is always a `kind: List`, even with one item, so that scripts
 * can read `.items` whatever the count; encodeResources writes a single
 * resource bare, so a one-item list is wrapped here in the same layout.
 */
function encodeList(items: Resource[], format: 'yaml' | 'json'): string {
  if (items.length !== 1) return encodeResources(items, format);
  const item: unknown = JSON.parse(encodeResources(items, 'json'));
  const list = { apiVersion: API_VERSION, kind: 'List', items: [item] };
  if (format === 'json') return `${JSON.stringify(list, null, 2)}\n`;
  const yaml = requireHere('yaml') as typeof import('yaml');
  return yaml.stringify(list, { lineWidth: 0 });
}

export async function runGet(ctx: CliContext, kindArg: string, name: string | undefined, format: OutputFormat): Promise<void> {
  const kind = resolveKind(kindArg);
  // Reads go over etcd's JSON gateway, not ctx.datastore(): see openReader.
  const reader = await openReader(ctx.globals());
  let items: Resource[];
  try {
    const { store } = reader;
    items = name !== undefined ? [await store.get(kind, name)] : (await store.list(kind)).items.slice().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  } finally {
    reader.close();
  }
  if (format === 'yaml' || format === 'json') {
    ctx.print(name !== undefined ? encodeResources(items, format) : encodeList(items, format));
    return;
  }
  if (items.length === 0) {
    ctx.print('No resources found.');
    return;
  }
  const { header, rows } = tableFor(kind, items, format, new Date());
  ctx.table(header, rows);
}

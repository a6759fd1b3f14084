/**
 * `terracectl label` arguments: `key=value` sets, `key-` removes. Key and
 * value syntax is the resource model's (qualified names, short plain
 * values); a bad argument is refused before the datastore is touched.
 */
import { TerraceError, labelValueProblem, qualifiedNameProblem, quote } from '@terrace/api';

export type LabelChange = { op: 'set'; key: string; value: string } | { op: 'remove'; key: string };

export function parseLabelChange(arg: string): LabelChange {
  const bad = (reason: string): TerraceError => new TerraceError('Invalid', `label ${quote(arg)}: ${reason}`, { field: 'metadata.labels' });
  const eq = arg.indexOf('=');
  if (eq === -1) {
    if (!arg.endsWith('-') || arg.length < 2) throw bad('expected key=value to set or key- to remove');
    const key = arg.slice(0, -1);
    const p = qualifiedNameProblem(key);
    if (p) throw bad(`key ${p}`);
    return { op: 'remove', key };
  }
  const key = arg.slice(0, eq);
  const value = arg.slice(eq + 1);
  const kp = qualifiedNameProblem(key);
  if (kp) throw bad(`key ${kp}`);
  const vp = labelValueProblem(value);
  if (vp) throw bad(`value ${vp}`);
  return { op: 'set', key, value };
}

/**
 * Applies changes to a label map. Like kubectl, changing the value of an
 * existing label needs `overwrite`; removing an absent label is an error.
 */
export function applyLabelChanges(
  ref: string,
  labels: Readonly<Record<string, string>>,
  changes: readonly LabelChange[],
  overwrite: boolean,
): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  for (const c of changes) {
    if (c.op === 'remove') {
      if (!(c.key in out)) {
        throw new TerraceError('Invalid', `${ref}: label ${quote(c.key)} not found`, { resource: ref, field: 'metadata.labels' });
      }
      delete out[c.key];
    } else {
      const old = out[c.key];
      if (old !== undefined && old !== c.value && !overwrite) {
        throw new TerraceError(
          'Invalid',
          `${ref}: label ${quote(c.key)} already has the value ${quote(old)}; use --overwrite to change it`,
          { resource: ref, field: 'metadata.labels' },
        );
      }
      out[c.key] = c.value;
    }
  }
  return out;
}

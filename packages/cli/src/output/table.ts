/**
 * Aligned plain-text tables, the default `get` output. Columns are padded to
 * their widest cell and separated by three spaces (what operators used to
 * kubectl expect); trailing spaces are trimmed so output diffs cleanly.
 */
const GAP = '   ';

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => (cells[i] ?? '').padEnd(w))
      .join(GAP)
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/**
 * The AGE column: how long ago a resource was created, in the coarse units an
 * operator scans for ("45s", "12m", "5h", "3d"). `now` is a parameter so that
 * golden tests are deterministic.
 */
export function formatAge(creationTimestamp: string | undefined, now: Date): string {
  if (!creationTimestamp) return '<unknown>';
  const created = Date.parse(creationTimestamp);
  if (Number.isNaN(created)) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - created) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

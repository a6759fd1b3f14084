/** Turns any failure into one `error: ...` line and an exit code. */
/**
 * `endpoints` are those of an opened datastore, if any, so that a raw etcd
 * error is reported against the right address.
 */
export async function reportError(e: unknown, endpoints: readonly string[] = []): Promise<number> {
  const api = await import('@terrace/api');
  let err = e;
  if (!api.isTerraceError(err) && err instanceof Error && /^(GRPC|Etcd)/.test(err.name)) {
    // A raw etcd client error that slipped past the datastore layer still
    // deserves its proper code (unreachable → 2).
    try {
      const ds = await import('@terrace/datastore');
      err = ds.mapEtcdError(err, endpoints);
    } catch {
      // keep the original
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message.replace(/\s*\n\s*/g, '; ')}\n`);
  return api.exitCodeFor(err);
}

/**
 * grpc-js passes the endpoint's host to tls.connect as the SNI server name,
 * and Node warns about that on stderr (DEP0123) when the host is an IP
 * address, as etcd endpoints usually are. Nothing is wrong: no SNI is sent
 * for an IP, and etcd's certificate is still checked against the address.
 * But a stray two-line warning breaks terracectl's one-line errors and the
 * daemons' JSON logs, so this one warning, and only it, is dropped.
 */
let installed = false;

export function dropIpServernameWarning(): void {
  if (installed) return;
  installed = true;
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]): void => {
    const [typeOrOptions, code] = rest;
    const c = typeof typeOrOptions === 'object' && typeOrOptions !== null ? (typeOrOptions as { code?: unknown }).code : code;
    if (c === 'DEP0123') return;
    (emit as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}

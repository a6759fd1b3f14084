/**
 * What a failed TLS handshake with etcd means, in words an operator can act
 * on. OpenSSL and Node report it as e.g. `...:SSL routines:ssl3_read_bytes:
 * sslv3 alert bad certificate:../deps/openssl/...:SSL alert number 42`,
 * which names neither side nor the setting to change. Both sides can
 * refuse: etcd refuses our client certificate (it sends an alert), or we
 * refuse etcd's server certificate (Node's verify error).
 */

interface TlsCase {
  test: RegExp;
  why: (detail: string) => string;
}

const CASES: readonly TlsCase[] = [
  {
    // Alerts 42 (bad certificate), 48 (unknown CA), 116 (certificate required): etcd said no.
    test: /alert (bad certificate|unknown ca|certificate required|certificate unknown)|SSL alert number (42|48|116)\b/i,
    why: (d) => `etcd refused our client certificate (${d}): it needs one signed by a CA in its --trusted-ca-file (set --etcd-cert and --etcd-key)`,
  },
  {
    test: /unable to verify the first certificate|unable to get local issuer certificate|self[- ]signed certificate|certificate signature failure|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT/i,
    why: (d) => `etcd's server certificate is signed by an unknown authority (${d}); set --etcd-ca to the CA that signed it`,
  },
  {
    test: /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i,
    why: (d) => `etcd's server certificate is not valid for this address (${d}); connect by a name or IP in its subjectAltName`,
  },
  {
    test: /certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid/i,
    why: (d) => `a certificate is outside its validity period (${d}); check the clocks and renew it`,
  },
  {
    test: /wrong version number|packet length too long|http request/i,
    why: (d) => `the endpoint does not speak TLS (${d}); use an http:// endpoint or enable TLS on etcd`,
  },
];

/** The short form of an OpenSSL error line: `sslv3 alert bad certificate` rather than the whole chain. */
function shortDetail(reason: string): string {
  const parts = reason.split(':');
  const i = parts.findIndex((p) => p === 'SSL routines');
  return (i >= 0 ? (parts[i + 2] ?? reason) : reason).trim();
}

/** `TLS handshake failed: ...` when `reason` is a TLS failure, else undefined. */
export function tlsFailure(reason: string): string | undefined {
  const c = CASES.find((x) => x.test.test(reason));
  return c ? `TLS handshake failed: ${c.why(shortDetail(reason))}` : undefined;
}

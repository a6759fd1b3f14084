import { describe, expect, it } from '@jest/globals';
import { tlsFailure } from '../src/tls-reason.js';

describe('tlsFailure', () => {
  it.each<[string, string]>([
    [
      '80CCC131C47F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42',
      'TLS handshake failed: etcd refused our client certificate (sslv3 alert bad certificate): it needs one signed by a CA in its --trusted-ca-file (set --etcd-cert and --etcd-key)',
    ],
    [
      'unable to verify the first certificate',
      "TLS handshake failed: etcd's server certificate is signed by an unknown authority (unable to verify the first certificate); set --etcd-ca to the CA that signed it",
    ],
    [
      "Hostname/IP does not match certificate's altnames: IP: 198.18.0.9 is not in the cert's list: 127.0.0.1",
      "TLS handshake failed: etcd's server certificate is not valid for this address (Hostname/IP does not match certificate's altnames: IP: 198.18.0.9 is not in the cert's list: 127.0.0.1); connect by a name or IP in its subjectAltName",
    ],
    [
      '80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:355:',
      'TLS handshake failed: the endpoint does not speak TLS (wrong version number); use an http:// endpoint or enable TLS on etcd',
    ],
  ])('names the side that refused and the setting: %s', (raw, want) => {
    expect(tlsFailure(raw)).toBe(want);
  });

  it('leaves other failures alone', () => {
    expect(tlsFailure('connect ECONNREFUSED 127.0.0.1:2379')).toBeUndefined();
  });
});

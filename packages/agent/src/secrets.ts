/**
 * BGP passwords. A BGPPeer names a secret (`password.secretKeyRef`); outside
 * Kubernetes the agent reads it from `<secrets dir>/<secret name>/<key>`,
 * the layout Kubernetes uses when it mounts a secret as a volume.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PasswordResolver } from './peers.js';

const SAFE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function fileSecretResolver(dir: string | undefined): PasswordResolver {
  return (_peer, ref) => {
    const s = ref.secretKeyRef;
    if (!dir || !s || !SAFE.test(s.name) || !SAFE.test(s.key)) return undefined;
    try {
      return readFileSync(join(dir, s.name, s.key), 'utf8').replace(/\r?\n$/, '');
    } catch {
      return undefined;
    }
  };
}

// The pure parts of a remote's view: which remote Nodes are gateways and with what addresses and AS,
// and the connection settings built from a RemoteCluster with its secrets.
import { describe, expect, test } from '@jest/globals';
import { API_VERSION, GATEWAY_IPV4_ANNOTATION, GATEWAY_IPV6_ANNOTATION, type TerraceNode } from '@terrace/api';
import { isAuthProblem, remoteConnection } from '../src/remote/connection.js';
import { DEFAULT_REMOTE_AS, remoteGateways } from '../src/remote/sync.js';
import { remoteCluster, secretsDir } from './remote-fixtures.js';

function node(name: string, spec: TerraceNode['spec'], labels: Record<string, string> = {}, annotations: Record<string, string> = {}): TerraceNode {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name, labels, annotations }, spec };
}

describe('remote gateways', () => {
  const nodes = [
    node('b3', { bgp: { ipv4Address: '198.18.1.3/24', ipv6Address: '2001:db8:1::3/64', asNumber: 65010 } }, { gw: 'yes' }),
    node('b1', { bgp: { ipv4Address: '198.18.1.1/24' } }, { gw: 'yes' }, { [GATEWAY_IPV4_ANNOTATION]: '198.18.200.1', [GATEWAY_IPV6_ANNOTATION]: '2001:db8:200::1' }),
    node('b2', { bgp: { ipv4Address: '198.18.1.2/24' } }),
    node('b4', {}, { gw: 'yes' }),
  ];

  test('selected nodes, annotations before BGP addresses, the node AS before the default, sorted by name', () => {
    expect(remoteGateways(nodes, 'gw == "yes"', 64513)).toEqual([
      { name: 'b1', addresses: ['198.18.200.1', '2001:db8:200::1'], asNumber: 64513 },
      { name: 'b3', addresses: ['198.18.1.3', '2001:db8:1::3'], asNumber: 65010 },
    ]);
  });

  test('all() selects every node with an address; the built-in default AS', () => {
    expect(remoteGateways(nodes, 'all()', DEFAULT_REMOTE_AS).map((g) => [g.name, g.asNumber])).toEqual([
      ['b1', 64512],
      ['b2', 64512],
      ['b3', 65010],
    ]);
  });
});

describe('remote connection', () => {
  const refs = { etcd: { usernameSecretRef: { name: 'cb', key: 'user' }, passwordSecretRef: { name: 'cb', key: 'pass' } } };

  test('endpoints, prefix and credentials from the secrets directory', () => {
    const s = secretsDir({ cb: { user: 'reader-a', pass: 's3cret' } });
    try {
      const cfg = remoteConnection(remoteCluster('cb', 'cluster-b', 'http://198.18.1.2:2379', refs), s.dir);
      expect(cfg).toMatchObject({ endpoints: ['http://198.18.1.2:2379'], cluster: 'cluster-b', username: 'reader-a', password: 's3cret' });
    } finally {
      s.close();
    }
  });

  test('a missing secret or secrets directory is a one-line error naming the field and the file', () => {
    const rc = remoteCluster('cb', 'cluster-b', 'http://198.18.1.2:2379', refs);
    expect(() => remoteConnection(rc, undefined)).toThrow('remotecluster/cb: spec.etcd.usernameSecretRef names secret cb/user but the controller has no --secrets-dir');
    const s = secretsDir({ cb: { user: 'reader-a' } });
    try {
      expect(() => remoteConnection(rc, s.dir)).toThrow(/^remotecluster\/cb: spec.etcd.passwordSecretRef: cannot read secret file .*\/cb\/pass: ENOENT$/);
    } finally {
      s.close();
    }
  });

  test('auth problems are told apart from unreachable ones', () => {
    expect(isAuthProblem('etcd at http://x:2379 refused the credentials: authentication failed, invalid user ID or password')).toBe(true);
    expect(isAuthProblem('etcd at http://x:2379 denied access: permission denied')).toBe(true);
    expect(isAuthProblem('etcd unreachable at http://x:2379: connect ECONNREFUSED')).toBe(false);
  });
});

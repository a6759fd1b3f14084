// A Node write (every agent registering) is judged against the pools only:
// it must not read every stored Node, which made N registrations O(N²). Seen
// from outside: a damaged Node elsewhere neither blocks a registration nor
// stops a pool write from being refused for what it is.
import { afterAll, describe, expect, it } from '@jest/globals';
import { TerraceError, type TerraceNode } from '@terrace/api';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { node, pool } from './fixtures.js';

const etcd = new Etcd3({ hosts: sharedEtcdEndpoint() });
afterAll(() => etcd.close());

const at = (name: string, v4: string): TerraceNode => ({ ...node(name), spec: { bgp: { ipv4Address: v4 } } }) as TerraceNode;

describe('node writes', () => {
  it('do not read the other Nodes: one damaged Node does not stop others registering', async () => {
    const keys = new Keys(uniqueCluster('nodewrite'));
    const store = new EtcdResourceStore(etcd, keys);
    await store.applyAll([pool('pods', '198.19.0.0/16'), at('n1', '198.18.0.11/24')]);
    await etcd.put(keys.resource('Node', 'broken')).value('{"kind":"Node"');

    const created = await store.create(at('n2', '198.18.0.12/24'));
    expect(created.metadata.name).toBe('n2');
    await store.replace({ ...at('n1', '198.18.0.21/24'), metadata: { name: 'n1' } });
    expect((await store.get('Node', 'n1')).spec.bgp?.ipv4Address).toBe('198.18.0.21/24');

    // The pool rule for a node still holds, judged against the pools it did read.
    let err: unknown;
    try {
      await store.create(at('n3', '198.19.4.2/24'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerraceError);
    expect((err as TerraceError).message).toMatch(/^node\/n3: spec.bgp.ipv4Address 198.19.4.2\/24 lies inside ippool\/pods/);
  });
});

/** mapEtcdError's wording for grpc answers that carry no detail. Pure. */
import { describe, expect, it } from '@jest/globals';
import { GRPCUnavailableError } from 'etcd3';
import { mapEtcdError } from '../src/client.js';

describe('mapEtcdError', () => {
  it('a connection closed under a call (grpc says "null") is said in words', () => {
    const e = mapEtcdError(new GRPCUnavailableError('14 UNAVAILABLE: null'), ['http://198.18.0.2:2379']);
    expect(e).toMatchObject({ code: 'Unavailable', message: 'etcd unreachable at http://198.18.0.2:2379: the connection closed' });
  });

  it('a refused connection keeps its reason', () => {
    const e = mapEtcdError(new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 198.18.0.2:2379. Resolution note: '), ['http://198.18.0.2:2379']);
    expect(e.message).toBe('etcd unreachable at http://198.18.0.2:2379: connect ECONNREFUSED 198.18.0.2:2379');
  });
});

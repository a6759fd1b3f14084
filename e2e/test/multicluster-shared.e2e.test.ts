/**
 * The shared-etcd variant: two clusters in ONE etcd under their two key
 * prefixes (/terrace/v1/cluster-a/, /terrace/v1/cluster-b/), each with its
 * own controller, ToR and one node (A GoBGP, B BIRD), and each controller
 * reading the other's prefix with a user that may read only that prefix. The
 * guard scenarios are the two-etcd lab's own (multicluster-guards.ts).
 */
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { destroyLab, MultiClusterLab } from '../src/index.js';
import { declareGuardScenarios } from './multicluster-guards.js';

let lab: MultiClusterLab;

beforeAll(async () => {
  lab = await MultiClusterLab.start({
    sharedEtcd: true,
    nodes: { a: [{ n: 1, backend: 'gobgp' }], b: [{ n: 1, backend: 'bird' }] },
  });
}, 300000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('multi-cluster guards, two clusters sharing one etcd', () => {
  declareGuardScenarios(() => lab);
});

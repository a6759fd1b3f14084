import { describe, expect, it } from '@jest/globals';
import { validateResource } from '../src/index.js';

const peer = (spec: Record<string, unknown>): unknown => ({ apiVersion: 'terrace.dev/v1', kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { peerIP: '198.18.0.1', asNumber: 65000, ...spec } });
const config = (name: string, spec: Record<string, unknown>): unknown => ({ apiVersion: 'terrace.dev/v1', kind: 'BGPConfiguration', metadata: { name }, spec });
const node = (bgp: Record<string, unknown>): unknown => ({ apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: 'n1' }, spec: { bgp } });

describe('Terrace extensions for BIRD and BFD', () => {
  it('accepts bfd on a BGPPeer, with or without its settings', () => {
    expect(validateResource(peer({ bfd: {} }))).toMatchObject({ spec: { bfd: {} } });
    expect(validateResource(peer({ bfd: { interval: '100ms', multiplier: 5 } }))).toMatchObject({ spec: { bfd: { interval: '100ms', multiplier: 5 } } });
  });

  it('refuses BFD settings that cannot work, naming the field', () => {
    expect(() => validateResource(peer({ bfd: { interval: '1ms' } }))).toThrow(/spec\.bfd\.interval "1ms" must be from 10ms to 10s/);
    expect(() => validateResource(peer({ bfd: { multiplier: 0 } }))).toThrow(/spec\.bfd\.multiplier/);
    expect(() => validateResource(peer({ bfd: { echo: true } }))).toThrow(/spec\.bfd\.echo/);
  });

  it('takes mesh BFD on the default BGPConfiguration only', () => {
    expect(validateResource(config('default', { nodeToNodeMeshBFD: { interval: '300ms' } }))).toMatchObject({ spec: { nodeToNodeMeshBFD: { interval: '300ms' } } });
    expect(() => validateResource(config('node.n1', { nodeToNodeMeshBFD: {} }))).toThrow(/nodeToNodeMeshBFD is only meaningful on bgpconfiguration\/default/);
  });

  it("takes Calico's failureDetectionMode as our bfd", () => {
    const calico = (mode: string): unknown => ({ apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { peerIP: '198.18.0.1', asNumber: 65000, failureDetectionMode: mode } });
    expect(validateResource(calico('BFDIfDirectlyConnected'))).toMatchObject({ apiVersion: 'terrace.dev/v1', spec: { bfd: {} } });
    expect(validateResource(calico('None'))).not.toHaveProperty('spec.bfd');
  });

  it('lets a Node name its BGP backend', () => {
    expect(validateResource(node({ ipv4Address: '198.18.0.11/24', backend: 'bird' }))).toMatchObject({ spec: { bgp: { backend: 'bird' } } });
    expect(() => validateResource(node({ backend: 'frr' }))).toThrow(/spec\.bgp\.backend/);
  });
});

describe("Calico's mesh password and mesh restart time", () => {
  const ref = { secretKeyRef: { name: 'bgp-secrets', key: 'mesh' } };

  it('takes nodeMeshPassword and nodeMeshMaxRestartTime on the default BGPConfiguration', () => {
    expect(validateResource(config('default', { nodeMeshPassword: ref, nodeMeshMaxRestartTime: '90s' }))).toMatchObject({
      spec: { nodeMeshPassword: ref, nodeMeshMaxRestartTime: '90s' },
    });
    const calico = { apiVersion: 'projectcalico.org/v3', kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { nodeMeshPassword: ref, nodeMeshMaxRestartTime: '0s' } };
    expect(validateResource(calico)).toMatchObject({ apiVersion: 'terrace.dev/v1', spec: { nodeMeshPassword: ref, nodeMeshMaxRestartTime: '0s' } });
  });

  it('refuses them elsewhere, a password given as text, and a restart time that is not a duration', () => {
    expect(() => validateResource(config('node.n1', { nodeMeshPassword: ref }))).toThrow(/nodeMeshPassword is only meaningful on bgpconfiguration\/default/);
    expect(() => validateResource(config('node.n1', { nodeMeshMaxRestartTime: '1m' }))).toThrow(/nodeMeshMaxRestartTime is only meaningful/);
    expect(() => validateResource(config('default', { nodeMeshPassword: 'hunter2' }))).toThrow(/nodeMeshPassword/);
    expect(() => validateResource(config('default', { nodeMeshPassword: { secretKeyRef: { name: 'Bad Name', key: 'k' } } }))).toThrow(/nodeMeshPassword\.secretKeyRef\.name/);
    expect(() => validateResource(config('default', { nodeMeshMaxRestartTime: 'soon' }))).toThrow(/nodeMeshMaxRestartTime "soon" is not a duration/);
  });
});

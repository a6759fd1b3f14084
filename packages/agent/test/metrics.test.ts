/** The pure parts of metrics and health: per-peer samples, readiness checks, loop liveness, the listen flag. */
import { describe, expect, it } from '@jest/globals';
import type { PeerStatus } from '@terrace/bgp';
import { LoopBeat, parseMetricsListen } from '@terrace/log';
import { parseAgentArgs } from '../src/config.js';
import { firstSync, speakerCheck } from '../src/health.js';
import { AgentMetrics, peerSamples } from '../src/metrics.js';
import { computeDesiredPeers } from '../src/peers.js';
import { buildNodeStatus } from '../src/status.js';
import { StatusTurns } from '../src/status-turn.js';
import { matches, node, peer } from './fixtures.js';

const a = node('a', '198.18.0.11/24');
const desired = computeDesiredPeers({
  self: a,
  nodes: [a, node('b', '198.18.0.12/24')],
  configs: [],
  peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65100 })],
  matches,
});

function session(address: string, state: PeerStatus['state'], extra: Partial<PeerStatus> = {}): PeerStatus {
  return {
    address,
    asn: 64512,
    type: undefined,
    description: '',
    state,
    since: new Date('2025-01-01T11:00:00Z'),
    prefixesReceived: 5,
    prefixesAccepted: 4,
    prefixesAdvertised: 1,
    info: '',
    ...extra,
  };
}

describe('peerSamples', () => {
  const now = new Date('2025-01-01T12:00:00Z');
  const status = (sessions: PeerStatus[] | undefined) =>
    buildNodeStatus({ node: 'a', backend: 'gobgp', desired, sessions, received: 0, advertised: [], installed: 0, now });

  it('one sample per desired peer: up, prefixes, uptime from the session, updates where counted', () => {
    const sessions = [session('198.18.0.1', 'established', { updatesReceived: 7, updatesSent: 3 }), session('198.18.0.12', 'active')];
    expect(peerSamples(status(sessions), sessions, now)).toEqual([
      {
        labels: { peer: '198.18.0.1', type: 'global', source: 'bgppeer/tor' },
        up: 1,
        prefixesReceived: 5,
        prefixesAccepted: 4,
        prefixesAdvertised: 1,
        uptimeSeconds: 3600,
        updatesReceived: 7,
        updatesSent: 3,
      },
      // Down: uptime 0 (since is when it went down); no update counters from this backend.
      { labels: { peer: '198.18.0.12', type: 'node-to-node mesh', source: 'node/b' }, up: 0, prefixesReceived: 5, prefixesAccepted: 4, prefixesAdvertised: 1, uptimeSeconds: 0 },
    ]);
  });

  it('peers the speaker cannot be asked about are down with zero counts', () => {
    const samples = peerSamples(status(undefined), undefined, now);
    expect(samples.map((s) => [s.labels.peer, s.up, s.prefixesReceived, s.prefixesAccepted, s.uptimeSeconds])).toEqual([
      ['198.18.0.1', 0, 0, 0, 0],
      ['198.18.0.12', 0, 0, 0, 0],
    ]);
  });

  it('a peer that went away leaves the registry with the next publication', async () => {
    const m = new AgentMetrics('a', () => 'gobgp');
    const sessions = [session('198.18.0.1', 'established'), session('198.18.0.12', 'established')];
    m.peers(peerSamples(status(sessions), sessions, now));
    expect(await m.registry.getSingleMetricAsString('terrace_bgp_peer_up')).toContain('peer="198.18.0.12"');
    m.peers(peerSamples(status(sessions), sessions, now).slice(0, 1));
    const text = await m.registry.getSingleMetricAsString('terrace_bgp_peer_up');
    expect(text).toContain('terrace_bgp_peer_up{peer="198.18.0.1",type="global",source="bgppeer/tor",backend="gobgp",node="a"} 1');
    expect(text).not.toContain('198.18.0.12');
  });

  it('CNI failures are counted by command and CNI code; replayed DELs are not requests', async () => {
    const m = new AgentMetrics('a', () => 'gobgp');
    m.cni({ command: 'ADD', ok: true, ms: 12, detail: '' });
    m.cni({ command: 'ADD', ok: false, ms: 3, detail: 'x', code: 11 });
    m.cni({ command: 'DEL (recorded)', ok: false, ms: 0, detail: 'x' });
    const text = await m.registry.metrics();
    expect(text).toContain('terrace_cni_request_duration_seconds_count{node="a",command="ADD"} 2');
    expect(text).toContain('terrace_cni_failures_total{command="ADD",code="11",node="a"} 1');
    expect(text).not.toContain('DEL (recorded)');
  });
});

describe('agent readiness', () => {
  it('first sync: started and a kernel resync done', () => {
    expect(firstSync(false, 0).ok).toBe(false);
    expect(firstSync(true, 0)).toMatchObject({ ok: false, detail: expect.stringContaining('resync') });
    expect(firstSync(true, 1).ok).toBe(true);
  });

  it('the speaker must answer; sessions are reported, not required', () => {
    expect(speakerCheck(undefined)).toMatchObject({ ok: false, detail: 'BGP is not configured yet' });
    expect(speakerCheck('the BGP speaker: no answer within 1000 ms')).toMatchObject({ ok: false });
    expect(speakerCheck([session('198.18.0.1', 'active')])).toMatchObject({ ok: true, detail: expect.stringContaining('0 of 1 sessions established') });
  });
});

describe('LoopBeat', () => {
  it('fails a loop that has not turned within its limit, not a paused one', () => {
    let t = 0;
    const b = new LoopBeat(() => t);
    b.add('status', 1000);
    b.add('passes', 1000);
    b.setActive('passes', false);
    t = 900;
    expect(b.checks().every((c) => c.ok)).toBe(true);
    t = 1500;
    expect(b.checks().map((c) => [c.name, c.ok])).toEqual([['status', false], ['passes', true]]);
    b.beat('status');
    b.setActive('passes', true);
    expect(b.checks().every((c) => c.ok)).toBe(true);
  });

  it('the status publisher beats when a publication ends, so a stuck one fails liveness', async () => {
    let t = 0;
    const b = new LoopBeat(() => t);
    b.add('status-publisher', 30_000);
    const failures: string[] = [];
    const turns = new StatusTurns((e) => failures.push(e.message), () => b.beat('status-publisher'));
    // A publication that failed still turned.
    t = 1000;
    await turns.run(() => Promise.reject(new Error('etcd: no answer')));
    expect(failures).toEqual(['etcd: no answer']);
    t = 30_500;
    expect(b.checks()[0]?.ok).toBe(true);
    // One that never ends: the timer keeps asking, nothing beats, /healthz fails.
    let release = (): void => undefined;
    const stuck = turns.run(() => new Promise<void>((r) => (release = r)));
    for (t = 31_000; t <= 62_000; t += 2000) void turns.run(() => Promise.resolve());
    await Promise.resolve();
    expect(b.checks()[0]).toMatchObject({ ok: false, detail: expect.stringContaining('has not turned') });
    release();
    await stuck;
    expect(b.checks()[0]?.ok).toBe(true);
  });
});

describe('--metrics-listen', () => {
  it('HOST:PORT, [v6]:PORT, port 0, or off', () => {
    expect(parseMetricsListen('0.0.0.0:9091')).toEqual({ host: '0.0.0.0', port: 9091 });
    expect(parseMetricsListen('[2001:db8::1]:9091')).toEqual({ host: '2001:db8::1', port: 9091 });
    expect(parseMetricsListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseMetricsListen('off')).toBeUndefined();
  });

  it('anything else is one clear line naming the flag', () => {
    for (const bad of ['9091', 'localhost:9091', '127.0.0.1:99999', '']) {
      expect(() => parseMetricsListen(bad)).toThrow(/^flag --metrics-listen "[^"]*" must be HOST:PORT/);
    }
  });

  it('the agent listens on 0.0.0.0:9091 unless told otherwise', () => {
    const local = () => [{ family: 4 as const, address: '198.18.0.11', prefix: 24, iface: 'eth0' }];
    expect(parseAgentArgs(['--node-ip', '198.18.0.11'], { local }).metricsListen).toEqual({ host: '0.0.0.0', port: 9091 });
    expect(parseAgentArgs(['--node-ip', '198.18.0.11', '--metrics-listen', 'off'], { local }).metricsListen).toBeUndefined();
  });
});

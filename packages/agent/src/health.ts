/**
 * What the agent's /readyz and /healthz say (docs/operations.md, "Metrics and
 * health"). Ready: etcd answers, the first sync is done (registration, IPAM's
 * pod routes, the BGP configuration handed to the speaker, a full kernel
 * route resync), and the speaker answers. Established sessions are reported
 * but not required: a node whose top-of-rack peer is down still serves its
 * own pods, and a fabric-wide outage must not take every agent out of
 * rotation at once.
 */
import type { PeerStatus } from '@terrace/bgp';
import type { EtcdReachability } from '@terrace/datastore';
import type { CheckResult } from '@terrace/log';

export interface AgentReadinessInputs {
  etcd: EtcdReachability;
  /** start() has finished (registration, IPAM, first reconcile). */
  started: () => boolean;
  /** Full kernel resyncs completed by route sync. */
  resyncs: () => number;
  /** The speaker's sessions within a second, or why not (undefined: BGP not configured yet). */
  sessions: () => Promise<PeerStatus[] | string | undefined>;
}

export async function agentReadiness(inp: AgentReadinessInputs): Promise<CheckResult[]> {
  const [etcd, sessions] = await Promise.all([inp.etcd.check(), inp.sessions()]);
  const started = inp.started();
  const resyncs = inp.resyncs();
  return [
    { name: 'etcd', ok: etcd.ok, detail: etcd.detail },
    firstSync(started, resyncs),
    speakerCheck(sessions),
  ];
}

export function firstSync(started: boolean, resyncs: number): CheckResult {
  if (!started) return { name: 'first-sync', ok: false, detail: 'the agent is still starting (registration, IPAM, BGP configuration)' };
  if (resyncs === 0) return { name: 'first-sync', ok: false, detail: 'route sync has not completed its first kernel resync' };
  return { name: 'first-sync', ok: true, detail: 'node registered, pod routes seeded, BGP configured, kernel routes synced' };
}

export function speakerCheck(sessions: PeerStatus[] | string | undefined): CheckResult {
  if (sessions === undefined) return { name: 'bgp-speaker', ok: false, detail: 'BGP is not configured yet' };
  if (typeof sessions === 'string') return { name: 'bgp-speaker', ok: false, detail: sessions };
  const up = sessions.filter((s) => s.state === 'established').length;
  return { name: 'bgp-speaker', ok: true, detail: `answering; ${up} of ${sessions.length} sessions established (sessions are not required)` };
}

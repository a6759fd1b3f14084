/**
 * The NodeStatus record the agent publishes (keys.status(node)), built from
 * the desired peers (which know why each session exists) and the speaker's
 * view of the sessions. Pure.
 */
import { BGP_PORT, type NodeStatus, type PeerState, type PeerStatusRecord } from '@terrace/api';
import type { PeerStatus, RibCheckStatus, SessionState } from '@terrace/bgp';
import { md5Hint, type Md5Counters } from './md5.js';
import type { DesiredBgp } from './peers.js';

const STATE: Record<SessionState, PeerState> = {
  idle: 'Idle',
  connect: 'Connect',
  active: 'Active',
  opensent: 'OpenSent',
  openconfirm: 'OpenConfirm',
  established: 'Established',
  unknown: 'Unknown',
};

export interface StatusInputs {
  node: string;
  backend: string;
  desired: DesiredBgp;
  /** The speaker's sessions; undefined when it could not be asked. */
  sessions: readonly PeerStatus[] | undefined;
  /** Why the sessions are unknown, when they are. */
  sessionsError?: string;
  received: number;
  advertised: readonly string[];
  installed: number;
  /** The speaker's check of its selection against gobgpd's, when it has one. */
  ribCheck?: RibCheckStatus;
  /** The natOutgoing table's state, when the agent manages one. */
  nat?: { installed: boolean; error?: string; repaired: number };
  /** How much the namespace's TCP MD5 drop counters rose lately (md5.ts), to say why a session stays down. */
  md5Rise?: Md5Counters;
  /** Pod addresses taken from this node (taken.ts). */
  addressConflicts?: NonNullable<NodeStatus['addressConflicts']>;
  now: Date;
}

export function buildNodeStatus(inp: StatusInputs): NodeStatus {
  const byAddress = new Map((inp.sessions ?? []).map((s) => [s.address, s]));
  const peers: PeerStatusRecord[] = inp.desired.peers.map((p) => {
    const s = byAddress.get(p.address);
    // Whether a password is set, never the password: status is readable by every operator.
    const hint = inp.md5Rise ? md5Hint({ passwordSet: p.password !== undefined, established: s?.state === 'established' }, inp.md5Rise) : undefined;
    const rec: PeerStatusRecord = {
      address: p.address,
      type: p.type,
      source: p.source,
      asNumber: p.asNumber,
      state: s ? STATE[s.state] : 'Unknown',
      info: withHint(s ? s.info : inp.sessions === undefined ? `speaker unavailable${inp.sessionsError ? `: ${inp.sessionsError}` : ''}` : 'not configured yet', hint),
      received: s?.prefixesReceived ?? 0,
      advertised: s?.prefixesAdvertised ?? 0,
    };
    if (p.port !== BGP_PORT) rec.port = p.port;
    if (s?.since) rec.since = s.since.toISOString();
    if (s?.bfd !== undefined) rec.bfd = s.bfd;
    return rec;
  });
  const out: NodeStatus = {
    node: inp.node,
    backend: inp.backend,
    updatedAt: inp.now.toISOString(),
    asNumber: inp.desired.global.asNumber,
    routerId: inp.desired.global.routerId,
    addresses: inp.desired.global.addresses,
    peers,
    prefixes: { received: inp.received, advertised: inp.advertised.length, installed: inp.installed },
    advertisedPrefixes: [...inp.advertised],
  };
  const rc = inp.ribCheck;
  if (rc) {
    out.ribCheck = { state: rc.state, diverged: rc.diverged };
    if (rc.example !== undefined) out.ribCheck.example = rc.example;
    if (rc.checkedAt !== undefined) out.ribCheck.checkedAt = rc.checkedAt.toISOString();
  }
  if (inp.nat) out.nat = { ...inp.nat };
  if (inp.addressConflicts?.length) out.addressConflicts = inp.addressConflicts.map((c) => ({ ...c }));
  return out;
}

function withHint(info: string, hint: string | undefined): string {
  return hint === undefined ? info : `${info}; ${hint}`;
}

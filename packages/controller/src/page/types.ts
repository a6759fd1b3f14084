/**
 * The status page's state, as /api/state returns it and page.js draws it.
 * Built only by buildPageState (state.ts), field by field.
 */
import type { ControllerEvent, ControllerStatus, PeerState } from '@terrace/api';

export interface PageBlock {
  cidr: string;
  used: number;
  size: number;
  /** Addresses of this block held by pods on other nodes. */
  borrowed: number;
}

export interface PageNode {
  name: string;
  /** The liveness key exists (the agent holds its lease). */
  alive: boolean;
  /** What the controller last reported: alive, grace or released. */
  controllerState?: string;
  graceRemainingSeconds?: number;
  backend?: string;
  asNumber?: number;
  addresses: string[];
  reflector: boolean;
  /** The agent's status record is missing or older than NODE_STATUS_STALE_MS. */
  statusStale: boolean;
  statusUpdatedAt?: string;
  prefixes?: { received: number; advertised: number; installed: number };
  blocks: PageBlock[];
  used: number;
  size: number;
}

export type VertexKind = 'node' | 'reflector' | 'external' | 'remote';

export interface PageVertex {
  id: string;
  kind: VertexKind;
  label: string;
  /** A second line: address, AS. */
  detail: string;
  /** Nodes only: false when the liveness key is gone. */
  alive?: boolean;
}

export interface PageSessionEnd {
  /** The node that reported this end. */
  from: string;
  state: PeerState;
  type: string;
  since?: string;
  info: string;
  received: number;
  advertised: number;
  bfd?: string;
}

export interface PageSession {
  id: string;
  a: string;
  b: string;
  /** Established only when every reporting end says so; otherwise the least advanced end's state. */
  state: PeerState;
  ends: PageSessionEnd[];
}

export interface PagePool {
  name: string;
  cidr: string;
  blockSize: number;
  disabled: boolean;
  natOutgoing: boolean;
  blocks: number;
  used: number;
  size: number;
  /** Why the pool is held (multi-cluster fence), when it is. */
  held?: string;
}

export interface PageRemote {
  name: string;
  clusterName: string;
  connection: string;
  stale: boolean;
  error?: string;
  lastSynced?: string;
  pools: { name: string; cidr: string; disabled: boolean }[];
  blocks: number;
  nodes: number;
  asNumber: number;
  gateways: { name: string; addresses: string[] }[];
  overlaps: { pool: string; cidr: string; remotePool: string; remoteCidr: string; fenced: string; since: string }[];
}

export interface PageController {
  leader: string;
  leaderSince: string;
  lastPass: string;
  /** The report is older than two pass intervals. */
  stale: boolean;
  passes: number;
  graceSeconds: number;
  intervalSeconds: number;
  totals: ControllerStatus['totals'];
  errors: { time: string; message: string }[];
}

export interface PageState {
  cluster: string;
  generatedAt: string;
  servedBy: string;
  leading: boolean;
  controller?: PageController;
  nodes: PageNode[];
  vertices: PageVertex[];
  sessions: PageSession[];
  pools: PagePool[];
  remotes: PageRemote[];
  /** Newest first. */
  events: ControllerEvent[];
}

/**
 * What `terracectl explain ip ADDR` knows about one address: read from etcd
 * (pools, the block, the holder, `ipam check`'s findings, node liveness and
 * status records) and from the live agents' answers to a route query. The
 * fault rules (faults.ts) and the rendering (render.ts) work on this alone,
 * so both are pure and tested without a cluster.
 */
import type { IssueKind } from '@terrace/ipam';
import type { RouteQueryResult } from '@terrace/datastore';

export interface HolderFacts {
  handle: string;
  node: string;
  namespace?: string;
  pod?: string;
  containerID?: string;
  iface?: string;
}

/** One BGP session as the node's status record shows it. */
export interface SessionFacts {
  address: string;
  /** Who the peer is: `node-2`, `bgppeer/tor (ToR)`; see peerName in gather.ts. */
  peer: string;
  state: string;
  since?: string;
}

export interface NodeFacts {
  name: string;
  /** The node's liveness key exists (its agent holds a lease). */
  alive: boolean;
  /** Its status record, when published: BGP addresses, sessions, what it originates. */
  status?: { updatedAt: string; addresses: string[]; sessions: SessionFacts[]; advertised: string[] };
  /** Why its status record could not be read (then status is absent, as if it published none). */
  statusError?: string;
  /** Its agent's answer for ADDR (undefined: no answer; see answerError). */
  answer?: RouteQueryResult;
  /** Why there is no usable answer (did not answer in time, garbled answer); absent when the query itself failed (ExplainFacts.queryError). */
  answerError?: string;
}

export interface ExplainFacts {
  ip: string;
  /** The pool whose CIDR holds ADDR, if any. */
  pool?: { name: string; cidr: string; disabled: boolean };
  /** The block that holds ADDR, if one is claimed. */
  block?: { cidr: string; node?: string };
  /** Who holds ADDR (undefined: free). */
  holder?: HolderFacts;
  /** `ipam check` findings about ADDR or its block (the same rules, the same snapshot). */
  issues: { kind: IssueKind; node?: string; handle?: string }[];
  /** Every registered or live node, sorted by name. */
  nodes: NodeFacts[];
  /** Peer addresses that are not nodes, named (`bgppeer/tor`): the ToRs and other routers. */
  routers: Record<string, string>;
  /**
   * Why the route query could not be written (etcd refuses writes: its
   * NOSPACE alarm, or a user without write access to queries/): no agent was
   * asked, so no live node has an answer. Absent when the query was asked.
   */
  queryError?: string;
}

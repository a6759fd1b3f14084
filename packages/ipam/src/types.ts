/** The allocator's public request and result shapes. */
import type { IPFamily } from '@terrace/api';

/** IPv4, IPv6, or one of each. */
export type FamilyRequest = IPFamily | 'dual';

export interface AllocateRequest {
  /** Stable id (for a pod interface, podHandle(network, containerID, ifname)): the same handle always gets the same address back. */
  handle: string;
  /** The node the pod runs on: blocks affine to it are used first. */
  node: string;
  attrs?: { namespace?: string; pod?: string; containerID?: string; iface?: string };
  /** Default 4. Ignored when `ip` is given (the addresses say their families). */
  family?: FamilyRequest;
  /** Specific addresses to take. */
  ip?: string | string[];
  /** Pool names to use, in order; a Manual pool is used only when named here. Default: every Automatic pool. */
  pools?: string[];
}

export interface AllocatedIP {
  ip: string;
  family: IPFamily;
  /** The block's CIDR. */
  block: string;
  ordinal: number;
  /** Names this allocation: pass it to release() to free exactly this one. */
  seq: number;
}

export interface AllocateResult {
  handle: string;
  ips: AllocatedIP[];
}

export type ReleaseRequest =
  | { handle: string; /** Free only the allocation with this seq. */ seq?: number }
  | { ip: string; /** Free only if this seq still holds it. */ seq?: number; /** Free only if this handle still holds it. */ handle?: string };

export interface ReleasedIP {
  ip: string;
  handle: string;
  block: string;
  seq: number;
}

export interface BlockInfo {
  cidr: string;
  pool: string | undefined;
  /** The affine node, or undefined for an unaffine block. */
  node: string | undefined;
  used: number;
  size: number;
  /** Allocations held by pods on other nodes. */
  borrowed: number;
}

export interface IPInfo {
  ip: string;
  handle: string;
  node: string;
  namespace?: string;
  pod?: string;
  containerID?: string;
  iface?: string;
  block: string;
  seq: number;
  time: number;
}

/**
 * BFD for the GoBGP backend. gobgpd has no BFD, so the agent runs the
 * sessions (../bfd/) and acts on them through gobgpd's API: when a peer's BFD
 * session goes from Up to Down, the BGP peer is disabled at once
 * (DisablePeer: gobgpd drops the session and every path it learned from it,
 * and tells our BMP station the peer went down, so the learned routes and the
 * kernel routes go with it), and it stays disabled until BFD is Up again or
 * HOLD_DOWN_MS have passed (EnablePeer), whichever comes first. A peer whose
 * BFD session never came up is left alone: BGP still works with a peer that
 * does not run BFD, it just detects loss by its hold timer.
 *
 * The hold-down ends on its own, as BIRD's and FRR's do (a BFD Down brings
 * the session down; they dial again after their error wait, BFD or not): a
 * router that stops running BFD for the session (its neighbor reconfigured
 * without it, or a router that creates its BFD session only once BGP is up)
 * would otherwise never get the BGP session back. A peer that is really gone
 * does not answer the redial either, so nothing is learned from it.
 *
 * The hold-down is desired state of its own: every reconcile pass of the
 * speaker calls enforce() with what gobgpd lists, so a gobgpd that restarted
 * (its peers come back enabled) or a failed call gets it applied again.
 */
import { formatIP } from '@terrace/api';
import { BfdManager, type BfdChange, type BfdPeer, type BfdStateName } from '../bfd/manager.js';
import { PeerState_AdminState } from '../gen/gobgp_pb.js';
import { BFD_DEFAULT_INTERVAL_MS, BFD_DEFAULT_MULTIPLIER } from '../bird/constants.js';
import type { PeerConfig } from '../speaker.js';
import type { GobgpClient } from './client.js';

export interface GobgpBfdOptions {
  client: GobgpClient;
  /** Named network namespace the BGP sessions run in (default: ours). */
  netns?: string;
  report: (e: Error) => void;
  /** Every state change, after the BGP peer was acted on (for logs and tests). */
  onChange?: (c: BfdChange) => void;
}

/** The BFD sessions our peers ask for, sourced from the BGP session's local address when it has one. */
export function bfdPeersOf(peers: Iterable<PeerConfig>): BfdPeer[] {
  const out: BfdPeer[] = [];
  for (const p of peers) {
    if (!p.bfd) continue;
    out.push({
      address: formatIP(p.address),
      ...(p.localAddress ? { localAddress: formatIP(p.localAddress) } : {}),
      intervalMs: p.bfd.intervalMs ?? BFD_DEFAULT_INTERVAL_MS,
      multiplier: p.bfd.multiplier ?? BFD_DEFAULT_MULTIPLIER,
    });
  }
  return out;
}

/** How long BFD holds a BGP peer down after its session went down, unless it comes Up sooner (BIRD's connect retry). */
export const HOLD_DOWN_MS = 5000;

/** How long one admin change may take to show in ListPeer before it is asked for again. */
const ADMIN_SETTLE_MS = 1000;
const ADMIN_POLL_MS = 20;
const ADMIN_TRIES = 5;

export class GobgpBfd {
  private readonly opts: GobgpBfdOptions;
  private readonly manager: BfdManager;
  /** BGP peers BFD holds down (desired: disabled in gobgpd). */
  private readonly held = new Set<string>();
  /** The timer that ends each hold-down. */
  private readonly releases = new Map<string, NodeJS.Timeout>();
  /** Peers we disabled and have not seen enabled again since: only these are ours to enable. */
  private readonly ours = new Set<string>();
  /** One admin change at a time per peer, each for the latest desired state. */
  private readonly queues = new Map<string, Promise<void>>();
  /** The peers that ask for BFD. */
  private wanted = new Set<string>();
  /** gobgpd's peers were looked at once (adopting a hold-down a previous agent left). */
  private adopted = false;
  private closed = false;

  constructor(opts: GobgpBfdOptions) {
    this.opts = opts;
    this.manager = new BfdManager({
      ...(opts.netns ? { netns: opts.netns } : {}),
      onChange: (c) => this.changed(c),
      onError: (e) => opts.report(e),
    });
  }

  /** The whole desired set of BFD sessions (from the peers that ask for BFD). */
  async setPeers(peers: readonly BfdPeer[]): Promise<void> {
    await this.manager.setPeers(peers);
    this.wanted = new Set(peers.map((p) => p.address));
    // A peer that no longer asks for BFD (or is gone) is no longer held down.
    for (const a of [...this.held]) {
      if (!this.wanted.has(a)) this.release(a);
    }
  }

  /** `up`, `down`, `init` or `admin down`; undefined when the peer has no BFD session. */
  state(address: string): BfdStateName | undefined {
    return this.manager.state(address);
  }

  /** Whether BFD holds this BGP peer down now. */
  holds(address: string): boolean {
    return this.held.has(address);
  }

  /**
   * Applies the hold-down to what gobgpd lists now (run after a pass added
   * and updated peers): disable what we hold and gobgpd has enabled (a
   * gobgpd that restarted), enable what we disabled and no longer hold.
   * Peers disabled by someone else are not ours to enable.
   */
  async enforce(): Promise<void> {
    if (this.adopted && this.held.size === 0 && this.ours.size === 0) return;
    const listed = await this.adminStates();
    if (!this.adopted) {
      // A previous agent (we restarted, gobgpd did not) held these down: hold
      // them until their BFD session is Up, as it would have.
      for (const a of this.wanted) {
        if (listed.get(a) !== true || this.state(a) === 'up') continue;
        this.hold(a);
        this.ours.add(a);
      }
      this.adopted = true;
    }
    // A peer gobgpd no longer has is no longer ours to enable.
    for (const a of [...this.ours]) if (!listed.has(a)) this.ours.delete(a);
    const off = [...this.held].filter((a) => listed.get(a) === false);
    const on = [...this.ours].filter((a) => !this.held.has(a) && listed.get(a) === true);
    await Promise.all([...off, ...on].map((a) => this.schedule(a)));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.releases.values()) clearTimeout(t);
    this.releases.clear();
    await this.manager.close();
    await Promise.all(this.queues.values());
  }

  private changed(c: BfdChange): void {
    // A peer that stopped its BFD on purpose (AdminDown: its agent restarting)
    // has not lost the path: its BGP session stays as it is (RFC 5882 §3.2).
    if (c.from === 'up' && c.to === 'down' && !c.peerAdminDown) {
      this.hold(c.address);
      void this.schedule(c.address);
    } else if (c.to === 'up') {
      this.release(c.address);
    }
    this.opts.onChange?.(c);
  }

  /** Holds the peer down (the caller schedules the disable) until release(), at most HOLD_DOWN_MS. */
  private hold(address: string): void {
    this.held.add(address);
    clearTimeout(this.releases.get(address));
    const t = setTimeout(() => this.release(address), HOLD_DOWN_MS);
    t.unref();
    this.releases.set(address, t);
  }

  /** Ends the peer's hold-down, if any, and schedules its enable. */
  private release(address: string): void {
    clearTimeout(this.releases.get(address));
    this.releases.delete(address);
    if (this.held.delete(address) && !this.closed) void this.schedule(address);
  }

  /** Queues a change of the peer's admin state towards whatever is desired when it runs. */
  private schedule(address: string): Promise<void> {
    const prev = this.queues.get(address) ?? Promise.resolve();
    const next = prev.then(() => this.converge(address)).catch((e: unknown) => this.opts.report(e instanceof Error ? e : new Error(String(e))));
    this.queues.set(address, next);
    void next.then(() => {
      if (this.queues.get(address) === next) this.queues.delete(address);
    });
    return next;
  }

  /**
   * Disables (held) or enables (ours, no longer held) the peer and waits to
   * see it in ListPeer. gobgpd hands the change to the peer's FSM through a
   * one-slot queue and silently drops a request while the previous one is
   * pending (a disable at once followed by an enable, as when a peer
   * restarts), so a change that does not show is asked for again.
   */
  private async converge(address: string): Promise<void> {
    for (let i = 0; i < ADMIN_TRIES && !this.closed; i++) {
      const disable = this.held.has(address);
      if (!disable && !this.ours.has(address)) return;
      const current = (await this.adminStates(address)).get(address);
      if (current === undefined) return; // not (yet) a peer of gobgpd's: enforce() comes back to it
      if (current === disable) {
        if (!disable) this.ours.delete(address);
        return;
      }
      if (disable) {
        this.ours.add(address);
        await this.opts.client.unary('disablePeer', { address, communication: 'BFD session down' });
      } else {
        await this.opts.client.unary('enablePeer', { address });
      }
      const deadline = Date.now() + ADMIN_SETTLE_MS;
      while (Date.now() < deadline && (await this.adminStates(address)).get(address) !== disable) {
        await new Promise((r) => setTimeout(r, ADMIN_POLL_MS));
      }
    }
  }

  /** Peer address → whether gobgpd has it administratively down (one peer, or all). */
  private async adminStates(address?: string): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    for (const r of await this.opts.client.list('listPeer', address ? { address } : {})) {
      const a = r.peer?.conf?.neighborAddress;
      if (a) out.set(a, r.peer?.state?.adminState === PeerState_AdminState.DOWN);
    }
    return out;
  }
}

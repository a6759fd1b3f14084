/**
 * BFD for the GoBGP backend. gobgpd has no BFD, so the agent runs the
 * sessions (../bfd/) and acts on them through gobgpd's API: when a peer's BFD
 * session goes from Up to Down, the BGP peer is disabled at once
 * (DisablePeer: gobgpd drops the session and every path it learned from it,
 * and tells our BMP station the peer went down, so the learned routes and the
 * kernel routes go with it), and it stays disabled until BFD is Up again
 * (EnablePeer). A peer whose BFD session never came up is left alone: BGP
 * still works with a peer that does not run BFD, it just detects loss by its
 * hold timer.
 *
 * The hold-down is desired state of its own: every reconcile pass of the
 * speaker calls enforce() with what gobgpd lists, so a gobgpd that restarted
 * (its peers come back enabled) or a failed call gets it applied again.
 */
import { TerraceError, formatIP } from '@terrace/api';
import { BfdManager, type BfdChange, type BfdPeer, type BfdStateName } from '../bfd/manager.js';
import { PeerState_AdminState, type Peer } from '../gen/gobgp_pb.js';
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

export class GobgpBfd {
  private readonly opts: GobgpBfdOptions;
  private readonly manager: BfdManager;
  /** BGP peers BFD holds down: disabled by us, to enable again when BFD is Up. */
  private readonly held = new Set<string>();
  /** Peers we disabled and no longer hold: to enable, until gobgpd lists them enabled. */
  private readonly released = new Set<string>();
  /** The peers that ask for BFD. */
  private wanted = new Set<string>();
  /** gobgpd's peers were looked at once (adopting a hold-down a previous agent left). */
  private adopted = false;

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
    const want = new Set(peers.map((p) => p.address));
    this.wanted = want;
    // A peer that no longer asks for BFD (or is gone) is no longer held down.
    for (const a of [...this.held]) if (!want.has(a)) this.release(a);
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
   * and updated peers): disable what we hold and gobgpd has enabled, enable
   * what we released and gobgpd still has disabled. Peers disabled by
   * someone else are not ours to enable.
   */
  async enforce(): Promise<void> {
    if (this.adopted && this.held.size === 0 && this.released.size === 0) return;
    const listed = new Map<string, Peer>();
    for (const r of await this.opts.client.list('listPeer', {})) {
      const a = r.peer?.conf?.neighborAddress;
      if (a && r.peer) listed.set(a, r.peer);
    }
    const down = (a: string): boolean => listed.get(a)?.state?.adminState === PeerState_AdminState.DOWN;
    if (!this.adopted) {
      // A previous agent (we restarted, gobgpd did not) held these down: hold
      // them until their BFD session is Up, as it would have.
      for (const a of this.wanted) if (down(a) && this.state(a) !== 'up') this.held.add(a);
      this.adopted = true;
    }
    for (const a of [...this.held]) if (listed.has(a) && !down(a)) await this.admin(a, 'disable');
    for (const a of [...this.released]) {
      if (listed.has(a) && down(a)) await this.admin(a, 'enable');
      this.released.delete(a);
    }
  }

  close(): Promise<void> {
    return this.manager.close();
  }

  private changed(c: BfdChange): void {
    // A peer that stopped its BFD on purpose (AdminDown: its agent restarting)
    // has not lost the path: its BGP session stays as it is (RFC 5882 §3.2).
    if (c.from === 'up' && c.to === 'down' && !c.peerAdminDown) {
      this.held.add(c.address);
      this.released.delete(c.address);
      void this.setAdmin(c.address, 'disable');
    } else if (c.to === 'up' && this.held.has(c.address)) {
      this.release(c.address);
    }
    this.opts.onChange?.(c);
  }

  private release(address: string): void {
    this.held.delete(address);
    this.released.add(address);
    void this.setAdmin(address, 'enable').then((ok) => ok && this.released.delete(address));
  }

  /** The change at once, outside any reconcile pass; a failure is reported and the next pass repeats it. */
  private async setAdmin(address: string, what: 'enable' | 'disable'): Promise<boolean> {
    try {
      await this.admin(address, what);
      return true;
    } catch (e) {
      this.opts.report(e instanceof Error ? e : new Error(String(e)));
      return false;
    }
  }

  private async admin(address: string, what: 'enable' | 'disable'): Promise<void> {
    try {
      if (what === 'disable') await this.opts.client.unary('disablePeer', { address, communication: 'BFD session down' });
      else await this.opts.client.unary('enablePeer', { address });
    } catch (e) {
      // Asking twice is not a failure: gobgpd refuses a peer that is already in that state.
      if (e instanceof TerraceError && /already/i.test(e.message)) return;
      throw e;
    }
  }
}

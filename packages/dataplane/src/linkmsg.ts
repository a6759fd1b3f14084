/**
 * rtnetlink requests for pod wiring: what `ip link add … type veth peer …`,
 * `ip link set … up`, `ip link del`, `ip addr add`, `ip neigh replace` and
 * `ip route replace default …` send, written with netlink.ts's
 * MessageWriter. Pure functions over bytes; the relay that carries them is
 * in linkrelay.ts, the wiring that uses them in links.ts.
 *
 * Links are named, not numbered, wherever the kernel allows it (RTM_NEWLINK
 * and RTM_DELLINK look a link up by IFLA_IFNAME when the index is 0), so a
 * request needs no earlier answer. Addresses, neighbours and routes need the
 * interface's index.
 */
import type { IPAddr } from '@terrace/api';
import type { MessageWriter } from './netlink.js';
import { MAIN_TABLE } from './constants.js';
import { AF_INET, AF_INET6, AF_UNSPEC, IFA_ADDRESS, IFA_FLAGS, IFA_F_NODAD, IFA_LOCAL, IFF_UP, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MTU, IFLA_NET_NS_FD, NDA_DST, NDA_LLADDR, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NUD_PERMANENT, RTA_GATEWAY, RTA_OIF, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTNH_F_ONLINK, RTN_UNICAST, RTPROT_BOOT, RT_SCOPE_UNIVERSE, VETH_INFO_PEER } from './rtnl.js';

const flags = (ack: boolean, extra = 0): number => NLM_F_REQUEST | (ack ? NLM_F_ACK : 0) | extra;
const af = (family: 4 | 6): number => (family === 4 ? AF_INET : AF_INET6);

function ifinfomsg(w: MessageWriter, index: number, up: boolean): void {
  w.u8(AF_UNSPEC);
  w.u8(0);
  w.u16(0); // ifi_type
  w.u32(index);
  w.u32(up ? IFF_UP : 0); // ifi_flags
  w.u32(up ? IFF_UP : 0); // ifi_change: only the bit we set
}

function name(w: MessageWriter, ifname: string): void {
  w.attr(IFLA_IFNAME, Buffer.from(ifname + '\0', 'utf8'));
}

/** An address's bytes, network order. */
export function ipBytes(a: IPAddr): Uint8Array {
  const n = a.family === 4 ? 4 : 16;
  const b = new Uint8Array(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

/** `aa:bb:…` as bytes. */
export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export interface VethSpec {
  /** The end created where the request is sent. */
  hostIfname: string;
  hostMac: string;
  /** The other end, created in the namespace IFLA_NET_NS_FD names. */
  peerIfname: string;
  peerMac: string;
  mtu: number;
}

/**
 * `ip link add HOST mtu M address A type veth peer name PEER mtu M address B
 * netns FD`: both ends down, the peer created directly in the other
 * namespace. Fails with EEXIST when either name is taken. Returns the offset
 * in `w.buf` of the IFLA_NET_NS_FD value, a file descriptor the sender must
 * fill in (it has to be valid in the process that sends the request).
 */
export function encodeNewVeth(w: MessageWriter, v: VethSpec, seq: number, ack: boolean): number {
  w.msgStart(RTM_NEWLINK, flags(ack, NLM_F_CREATE | NLM_F_EXCL), seq);
  ifinfomsg(w, 0, false);
  name(w, v.hostIfname);
  w.attr32(IFLA_MTU, v.mtu);
  w.attr(IFLA_ADDRESS, macBytes(v.hostMac));
  const info = w.nestStart(IFLA_LINKINFO);
  w.attr(IFLA_INFO_KIND, Buffer.from('veth', 'utf8'));
  const data = w.nestStart(IFLA_INFO_DATA);
  const peer = w.nestStart(VETH_INFO_PEER);
  ifinfomsg(w, 0, false);
  name(w, v.peerIfname);
  w.attr32(IFLA_MTU, v.mtu);
  w.attr(IFLA_ADDRESS, macBytes(v.peerMac));
  w.attr32(IFLA_NET_NS_FD, 0);
  const fdAt = w.len - 4;
  w.nestEnd(peer);
  w.nestEnd(data);
  w.nestEnd(info);
  w.msgEnd();
  return fdAt;
}

/** `ip link set NAME up`. */
export function encodeLinkUp(w: MessageWriter, ifname: string, seq: number, ack: boolean): void {
  w.msgStart(RTM_NEWLINK, flags(ack), seq);
  ifinfomsg(w, 0, true);
  name(w, ifname);
  w.msgEnd();
}

/** `ip link del NAME` (ENODEV when there is none). */
export function encodeDelLink(w: MessageWriter, ifname: string, seq: number, ack: boolean): void {
  w.msgStart(RTM_DELLINK, flags(ack), seq);
  ifinfomsg(w, 0, false);
  name(w, ifname);
  w.msgEnd();
}

/** `ip link show NAME`: answered with the link (its index), or ENODEV. */
export function encodeGetLinkByName(w: MessageWriter, ifname: string, seq: number, ack: boolean): void {
  w.msgStart(RTM_GETLINK, flags(ack), seq);
  ifinfomsg(w, 0, false);
  name(w, ifname);
  w.msgEnd();
}

/** `ip addr add A/32 dev IF` or `ip addr add A/128 dev IF nodad`: a host-length address. */
export function encodeHostAddr(w: MessageWriter, a: IPAddr, index: number, seq: number, ack: boolean): void {
  const b = ipBytes(a);
  w.msgStart(RTM_NEWADDR, flags(ack, NLM_F_CREATE | NLM_F_EXCL), seq);
  // struct ifaddrmsg
  w.u8(af(a.family));
  w.u8(a.family === 4 ? 32 : 128);
  // nodad: the address is ours by allocation; DAD would hold it tentative for a second.
  w.u8(a.family === 6 ? IFA_F_NODAD : 0);
  w.u8(RT_SCOPE_UNIVERSE);
  w.u32(index);
  w.attr(IFA_LOCAL, b);
  if (a.family === 4) w.attr(IFA_ADDRESS, b);
  if (a.family === 6) w.attr32(IFA_FLAGS, IFA_F_NODAD);
  w.msgEnd();
}

/** `ip neigh replace GW lladdr MAC dev IF nud permanent`. */
export function encodePermanentNeigh(w: MessageWriter, gw: IPAddr, mac: string, index: number, seq: number, ack: boolean): void {
  w.msgStart(RTM_NEWNEIGH, flags(ack, NLM_F_CREATE | NLM_F_REPLACE), seq);
  // struct ndmsg
  w.u8(af(gw.family));
  w.u8(0);
  w.u16(0);
  w.u32(index);
  w.u16(NUD_PERMANENT);
  w.u8(0); // ndm_flags
  w.u8(0); // ndm_type
  w.attr(NDA_DST, ipBytes(gw));
  w.attr(NDA_LLADDR, macBytes(mac));
  w.msgEnd();
}

/**
 * `ip route replace default via GW dev IF [onlink]` (main table, protocol
 * boot as `ip` gives it). IPv4 needs onlink: the gateway is in no subnet of
 * the pod's; IPv6's is link-local, on-link by definition.
 */
export function encodeDefaultRoute(w: MessageWriter, gw: IPAddr, index: number, seq: number, ack: boolean): void {
  w.msgStart(RTM_NEWROUTE, flags(ack, NLM_F_CREATE | NLM_F_REPLACE), seq);
  // struct rtmsg
  w.u8(af(gw.family));
  w.u8(0); // dst_len: default
  w.u8(0); // src_len
  w.u8(0); // tos
  w.u8(MAIN_TABLE);
  w.u8(RTPROT_BOOT);
  w.u8(RT_SCOPE_UNIVERSE);
  w.u8(RTN_UNICAST);
  w.u32(gw.family === 4 ? RTNH_F_ONLINK : 0);
  w.attr(RTA_GATEWAY, ipBytes(gw));
  w.attr32(RTA_OIF, index);
  w.msgEnd();
}

/**
 * The kernel's rtnetlink numbers (linux/netlink.h, rtnetlink.h, if_link.h,
 * if_addr.h, neighbour.h, veth.h), and the helpers every encoder and
 * decoder here shares. One place, so that the writers (netlink.ts,
 * linkmsg.ts) and the reader (routemsg.ts) never disagree.
 */
import { endianness } from 'node:os';

/** Netlink is in host byte order. */
export const LE = endianness() === 'LE';
export const align4 = (n: number): number => (n + 3) & ~3;

export const NLMSG_ERROR = 2;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** On an NLMSG_ERROR: extended-ack attributes follow the echoed header. */
export const NLM_F_ACK_TLVS = 0x200;
/** On an NLMSG_ERROR: the request was not echoed beyond its header (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
export const NLMSGERR_ATTR_MSG = 1;
export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTN_UNSPEC = 0;
export const RTN_TYPE = { unicast: 1, blackhole: 6, unreachable: 7, prohibit: 8 } as const;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;
export const RTNH_F_ONLINK = 4;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTA_VIA = 18;
export const IFLA_IFNAME = 3;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const NLMSG_HDRLEN = 16;
export const RTMSG_LEN = 12;
export const IFINFOMSG_LEN = 16;
export const NLMSG_DONE = 3;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const RTM_DELLINK = 17;
export const RTM_GETROUTE = 26;
export const RTM_NEWADDR = 20;
export const RTM_NEWNEIGH = 28;
export const IFLA_ADDRESS = 1;
export const IFLA_MTU = 4;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;
export const IFF_UP = 0x1;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NUD_PERMANENT = 0x80;
/** What `ip route` gives a route when told no protocol; `ip route show` leaves it out. */
export const RTPROT_BOOT = 3;
export const RTN_UNICAST = 1;
export const AF_UNSPEC = 0;

// `terracectl explain ip`: the fault rules and the rendering (pure, no cluster).
import { describe, expect, it } from '@jest/globals';
import { decodeNodeStatus } from '@terrace/api';
import type { ExplainFacts, NodeFacts } from '../src/explain/facts.js';
import { findFaults, unknownNodes } from '../src/explain/faults.js';
import { parseExplainAddress, peerName } from '../src/explain/gather.js';
import { renderExplain } from '../src/explain/render.js';

const BLOCK = '198.19.5.0/26';
const IP = '198.19.5.3';
const ADDR = { 'node-1': '198.18.0.11', 'node-2': '198.18.0.12', 'node-3': '198.18.0.13' } as const;
type Name = keyof typeof ADDR;

function node(name: Name, opts: { kernel?: 'via' | 'none' | 'blackhole' | 'pod'; session?: string; bgp?: boolean; originated?: boolean } = {}): NodeFacts {
  const others = (Object.keys(ADDR) as Name[]).filter((n) => n !== name);
  const kernel = {
    via: [{ dst: BLOCK, type: 'unicast', via: [ADDR['node-1']], protocol: 'terrace' }],
    pod: [{ dst: `${IP}/32`, type: 'unicast', via: [], dev: 'tr1a2b3c', protocol: 'terrace' }],
    blackhole: [{ dst: BLOCK, type: 'blackhole', via: [], protocol: 'terrace' }],
    none: [],
  }[opts.kernel ?? (name === 'node-1' ? 'pod' : 'via')];
  return {
    name,
    alive: true,
    status: {
      updatedAt: '2026-12-07T20:15:00Z',
      addresses: [ADDR[name]],
      advertised: name === 'node-1' ? [BLOCK] : [],
      sessions: [
        ...others.map((o) => ({ address: ADDR[o], peer: o, state: o === 'node-1' && opts.session ? opts.session : 'Established', since: '2026-12-07T20:14:03Z' })),
        { address: '198.18.0.1', peer: 'ToR bgppeer/tor', state: 'Established', since: '2026-12-07T20:00:00Z' },
      ],
    },
    answer: {
      prefix: IP,
      originated: opts.originated ?? name === 'node-1',
      kernel,
      bgp: opts.bgp === false || name === 'node-1' ? [] : [{ prefix: BLOCK, nextHop: ADDR['node-1'], peer: '', best: true, asPath: [] }],
    },
  };
}

function healthy(): ExplainFacts {
  return {
    ip: IP,
    pool: { name: 'pool-a', cidr: '198.19.0.0/16', disabled: false },
    block: { cidr: BLOCK, node: 'node-1' },
    holder: { handle: 'terrace.c0ffee.eth0', node: 'node-1', namespace: 'default', pod: 'a', containerID: 'c0ffee', iface: 'eth0' },
    issues: [],
    nodes: [node('node-1'), node('node-2'), node('node-3')],
    routers: { '198.18.0.1': 'ToR bgppeer/tor' },
  };
}

const first = (f: ExplainFacts): string | undefined => findFaults(f)[0]?.message;

describe('explain ip: fault rules', () => {
  it('finds nothing wrong with a held address every node routes to its origin', () => {
    expect(findFaults(healthy())).toEqual([]);
  });

  it('names a free address in a pool healthy, and one outside every pool a fault', () => {
    const free = { ...healthy(), holder: undefined };
    expect(findFaults(free)).toEqual([]);
    expect(first({ ...healthy(), pool: undefined, block: undefined, holder: undefined })).toBe(`${IP} is outside every IP pool`);
  });

  it('names the node without a route and the session that is down, with its time', () => {
    const f = healthy();
    f.nodes[1] = node('node-2', { kernel: 'none', session: 'Active', bgp: false });
    expect(first(f)).toBe(`node-2 has no route to ${BLOCK}: session to node-1 Active since 20:14:03`);
  });

  it('says the node learned nothing when its sessions are up, and that the kernel lacks a learned path', () => {
    const f = healthy();
    f.nodes[2] = node('node-3', { kernel: 'none', bgp: false });
    expect(first(f)).toBe(`node-3 has no route to ${BLOCK}: it learned no BGP path for it`);
    f.nodes[2] = node('node-3', { kernel: 'none' });
    expect(first(f)).toBe(`node-3 has no route to ${BLOCK}: it learned 1 BGP path but the kernel has none`);
  });

  it('reports an allocation ipam check calls leaked before any routing fault', () => {
    const f = healthy();
    f.issues = [{ kind: 'allocationNodeNotRegistered', node: 'node-9', handle: 'terrace.dead.eth0' }];
    f.nodes[1] = node('node-2', { kernel: 'none' });
    expect(first(f)).toBe(`${IP} is allocated to handle terrace.dead.eth0 but no node node-9 is registered: leaked (terracectl ipam release --ip ${IP})`);
    f.issues = [{ kind: 'allocationWithoutHandle', handle: 'terrace.dead.eth0' }];
    expect(first(f)).toMatch(/but that handle does not list it: leaked/);
    f.issues = [{ kind: 'addressInTwoHandles' }];
    expect(findFaults(f)[0]?.rule).toBe('sharedAddress');
  });

  it('calls an address whose pod interface is gone from its node a leak', () => {
    const f = healthy();
    f.nodes[0] = node('node-1', { kernel: 'blackhole' });
    expect(first(f)).toBe(`${IP} is allocated to handle terrace.c0ffee.eth0 but no such container c0ffee on node-1: leaked (the node only blackholes it)`);
  });

  it('names a dead holder or block owner', () => {
    const f = healthy();
    f.nodes[0] = { ...node('node-1'), alive: false };
    expect(first(f)).toMatch(/^198\.19\.5\.3 is held by terrace\.c0ffee\.eth0 on node-1, which is dead/);
    f.holder = undefined;
    expect(first(f)).toBe(`block ${BLOCK} is affine to node-1, which is dead (no liveness key): nothing announces it`);
  });

  it('names an origin that does not advertise', () => {
    const f = healthy();
    f.nodes[0] = node('node-1', { originated: false });
    expect(first(f)).toBe(`node-1 does not advertise ${BLOCK}`);
  });

  it('calls a node without an answer (starting, slow, query not written) unknown, not a fault', () => {
    const g = healthy();
    g.nodes[2] = { ...node('node-3'), answer: undefined, answerError: 'its agent is starting (BGP and routes not up yet)' };
    g.nodes[1] = { ...node('node-2'), answer: undefined, answerError: 'no answer within 3 s' };
    expect(findFaults(g)).toEqual([]);
    expect(unknownNodes(g)).toEqual([
      { node: 'node-2', why: 'no answer within 3 s' },
      { node: 'node-3', why: 'its agent is starting (BGP and routes not up yet)' },
    ]);
    expect(renderExplain(g, [])).toContain('Verdict:   no fault found; unknown on node-2 (no answer within 3 s), node-3 (its agent is starting (BGP and routes not up yet))\n');
  });

  it('says once why no agent was asked when the query could not be written, and still judges from the status records', () => {
    const why = 'etcd database space exceeded at http://127.0.0.1:2379 (quota full, NOSPACE alarm raised; writes refused, reads still work): compact and defragment, then disarm the alarm';
    const g: ExplainFacts = { ...healthy(), queryError: why, nodes: healthy().nodes.map((n) => ({ ...n, answer: undefined })) };
    expect(findFaults(g)).toEqual([]);
    expect(unknownNodes(g)).toEqual([
      { node: 'node-2', why: `route query failed: ${why}` },
      { node: 'node-3', why: `route query failed: ${why}` },
    ]);
    const out = renderExplain(g, []);
    expect(out).toContain(`Origin:    node-1 should announce ${BLOCK}: advertised\nQuery:     route query failed, no agent was asked: ${why}\n`);
    expect(out).toMatch(/^node-2 +alive, not asked +- +- +node-1 Established/m);
    expect(out).toContain(`Verdict:   no fault found; unknown on node-2, node-3 (route query failed: ${why})\n`);
    // The origin without a status record: a fault that says it could not be asked, not that its agent is down.
    g.nodes[0] = { ...g.nodes[0]!, status: undefined };
    expect(first(g)).toBe(`node-1 publishes no status and could not be asked (route query failed: ${why})`);
  });

  it('expects a borrowed address as a host route from its holder', () => {
    const f = healthy();
    f.holder = { handle: 'h', node: 'node-2' };
    f.nodes[1] = node('node-2', { kernel: 'pod', originated: true });
    f.nodes[0] = node('node-1', { kernel: 'blackhole', originated: true });
    f.nodes[0].answer!.bgp = [];
    // node-3 still routes the block via node-1, which no longer delivers it: a wrong next hop too.
    expect(findFaults(f).map((x) => x.message)).toEqual([
      `node-1 has no route to ${IP}/32: it learned no BGP path for it`,
      `node-3 routes ${IP} via node-1 (198.18.0.11), not the origin node-2`,
    ]);
  });

  it('calls a borrowed address whose pod is gone a leak, and a route to the block owner a wrong next hop', () => {
    // Block affine to node-1, node-2 borrowed the address, its pod went without a DEL.
    const f = healthy();
    f.holder = { handle: 'h', node: 'node-2', containerID: 'beef' };
    f.nodes[1] = node('node-2', { originated: true, bgp: false });
    f.nodes[2] = node('node-3');
    expect(findFaults(f).map((x) => x.rule)).toEqual(['noInterface', 'wrongNextHop']);
    expect(first(f)).toBe(`${IP} is allocated to handle h but no such container beef on node-2: leaked (the node only blackholes it)`);
    expect(findFaults(f)[1]?.message).toBe(`node-3 routes ${IP} via node-1 (198.18.0.11), not the origin node-2`);
  });

  it('names a node whose route leads to another node instead of the origin (a loop)', () => {
    const f = healthy();
    f.nodes[1]!.answer!.kernel = [{ dst: BLOCK, type: 'unicast', via: [ADDR['node-3']], protocol: 'bird' }];
    f.nodes[2]!.answer!.kernel = [{ dst: BLOCK, type: 'unicast', via: [ADDR['node-2']], protocol: 'bird' }];
    expect(findFaults(f).map((x) => x.message)).toEqual([
      `node-2 routes ${IP} via node-3 (198.18.0.13), not the origin node-1`,
      `node-3 routes ${IP} via node-2 (198.18.0.12), not the origin node-1`,
    ]);
    f.nodes[2]!.answer!.kernel = [{ dst: BLOCK, type: 'unicast', via: ['198.18.0.1'], protocol: 'bird' }];
    expect(findFaults(f).map((x) => x.node)).toEqual(['node-2']);
  });

  it('does not count a default route as a route to the address', () => {
    const f = healthy();
    f.nodes[1] = node('node-2', { bgp: false });
    f.nodes[1].answer!.kernel = [{ dst: 'default', type: 'unicast', via: ['198.18.0.1'], protocol: 'static' }];
    expect(findFaults(f)[0]?.rule).toBe('noRoute');
  });
});

describe('explain ip: input and names', () => {
  it('refuses what is not an address in one line', () => {
    expect(() => parseExplainAddress('198.19.5')).toThrow('explain ip: "198.19.5" is not an IPv4 or IPv6 address');
    expect(parseExplainAddress('2001:DB8::1')).toBe('2001:db8::1');
  });

  it('names mesh peers by node and routers by their BGPPeer', () => {
    expect(peerName({ address: '198.18.0.12', type: 'node-to-node mesh', source: 'node/node-2' })).toBe('node-2');
    expect(peerName({ address: '198.18.0.1', type: 'global', source: 'bgppeer/tor' })).toBe('ToR bgppeer/tor');
  });
});

describe('explain ip: status records', () => {
  it('reads a record of the wrong shape as none, with the reason', () => {
    expect(() => decodeNodeStatus('node-2', '{"updatedAt":"t","addresses":[],"advertisedPrefixes":[],"peers":{}}')).toThrow('status record of node node-2: peers is not a list');
    expect(() => decodeNodeStatus('node-2', '{"updatedAt":"t","addresses":[],"advertisedPrefixes":[],"peers":[{"address":"a","state":"x","type":"global"}]}')).toThrow(
      "status record of node node-2: a peer's source is not a string",
    );
    expect(() => decodeNodeStatus('node-2', 'nope')).toThrow('status record of node node-2: not JSON');
    const ok = { node: 'node-2', updatedAt: 't', addresses: ['198.18.0.12'], advertisedPrefixes: [], peers: [{ address: 'a', source: 'node/x', state: 'Established', type: 'global' }] };
    expect(decodeNodeStatus('node-2', JSON.stringify(ok))).toEqual(ok);
    const f = healthy();
    f.nodes[1] = { ...node('node-2'), status: undefined, statusError: 'status record of node node-2: peers is not a list' };
    expect(renderExplain(f, findFaults(f))).toContain('no status (status record of node node-2: peers is not a list)');
  });
});

describe('explain ip: output', () => {
  it('says when the origin\'s agent and its status record disagree', () => {
    const f = healthy();
    f.nodes[0]!.status!.advertised = [];
    expect(renderExplain(f, [])).toContain(`Origin:    node-1 should announce ${BLOCK}: its agent announces it now; its status record does not list it\n`);
    f.nodes[0]!.answer!.originated = false;
    expect(renderExplain(f, [])).toContain(`Origin:    node-1 should announce ${BLOCK}: NOT advertised\n`);
  });

  it('prints control characters from etcd as ?, so a record cannot forge lines or clear the screen', () => {
    const f = healthy();
    f.nodes[1]!.status!.sessions[0]!.state = '\u001b[2J\nVerdict:   healthy';
    f.holder!.pod = 'a\rb';
    const out = renderExplain(f, findFaults(f));
    expect(out).not.toMatch(/\u001b|\r/);
    expect(out.split('\n').filter((l) => l.startsWith('Verdict:'))).toHaveLength(1);
    expect(out).toContain('pod default/a?b');
  });

  it('prints the record, a row per node and the verdict', () => {
    const f = healthy();
    f.nodes[1] = node('node-2', { kernel: 'none', session: 'Active', bgp: false });
    expect(renderExplain(f, findFaults(f))).toBe(
      [
        'Address:   198.19.5.3',
        'Pool:      pool-a (198.19.0.0/16)',
        'Block:     198.19.5.0/26, affine to node-1',
        'Holder:    handle terrace.c0ffee.eth0, pod default/a, container c0ffee, interface eth0, on node-1',
        'Origin:    node-1 should announce 198.19.5.0/26: advertised',
        '',
        'NODE     STATE   KERNEL ROUTE                                           BGP PATHS                                     SESSIONS',
        'node-1   alive   198.19.5.3/32 dev tr1a2b3c proto terrace               originates it                                 node-2 Established, node-3 Established, ToR bgppeer/tor Established',
        'node-2   alive   none                                                   none                                          node-1 Active, node-3 Established, ToR bgppeer/tor Established',
        'node-3   alive   198.19.5.0/26 via 198.18.0.11 (node-1) proto terrace   198.19.5.0/26 via 198.18.0.11 (node-1) best   node-1 Established, node-2 Established, ToR bgppeer/tor Established',
        '',
        'Verdict:   node-2 has no route to 198.19.5.0/26: session to node-1 Active since 20:14:03',
        '',
      ].join('\n'),
    );
  });
});

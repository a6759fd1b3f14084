/**
 * Random desired states (any mix of peers, session options, policies and
 * announcements, both families) rendered by bird/render.ts: the renderer
 * answers within a second with a file or a one-line TerraceError, the same
 * input always gives the same bytes, and the real `bird -p` accepts every
 * file it writes (checked on the first 30, to keep the suite fast).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { cidr, ipAddr, TerraceError, type Cidr, type IPAddr } from '@terrace/api';
import { bounded } from '@terrace/testkit';
import { renderBirdConfig, type BirdDesired } from '../src/bird/render.js';
import { anyRule, insideRule, type PeerPolicy, type PolicyRule } from '../src/policy.js';
import type { Announcement, PeerConfig } from '../src/speaker.js';

/** How many rendered files `bird -p` reads: each is a process start. */
const BIRD_PARSES = 30;

const V4_BASE = 0xc6120000n; // 198.18.0.0/15
const V6_BASE = 0x20010db8n << 96n; // 2001:db8::/32
const addr4 = fc.bigInt({ min: 1n, max: (1n << 17n) - 2n }).map((x) => ipAddr(4, V4_BASE + x));
const addr6 = fc.bigInt({ min: 1n, max: (1n << 96n) - 1n }).map((x) => ipAddr(6, V6_BASE + x));
const address = fc.oneof(addr4, addr6);
const prefix4 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 17n) - 1n }), fc.integer({ min: 15, max: 32 })).map(([x, len]) => cidr(4, (V4_BASE + x) & ~((1n << BigInt(32 - len)) - 1n), len));
const prefix6 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }), fc.integer({ min: 32, max: 128 })).map(([x, len]) => cidr(6, (V6_BASE + x) & ~((1n << BigInt(128 - len)) - 1n), len));
const prefix = fc.oneof(prefix4, prefix6);
const asn = fc.oneof(fc.constant(64512), fc.integer({ min: 1, max: 4294967295 }));
const community = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([a, b]) => `${a}:${b}`),
  fc.tuple(fc.integer({ min: 0, max: 4294967295 }), fc.integer({ min: 0, max: 4294967295 }), fc.integer({ min: 0, max: 4294967295 })).map(([a, b, c]) => `${a}:${b}:${c}`),
);
const rule: fc.Arbitrary<PolicyRule> = fc.oneof(
  fc.tuple(fc.constantFrom('accept' as const, 'reject' as const), prefix).map(([a, c]) => insideRule(a, c)),
  fc.tuple(fc.constantFrom('accept' as const, 'reject' as const), fc.constantFrom(4 as const, 6 as const)).map(([a, f]) => anyRule(a, f)),
);
const policy: fc.Arbitrary<PeerPolicy> = fc.record({ import: fc.array(rule, { maxLength: 3 }), export: fc.array(rule, { maxLength: 3 }), pass: fc.option(fc.array(rule, { maxLength: 2 }), { nil: undefined }) });
const safeText = fc.stringMatching(/^[A-Za-z0-9 ._\/-]{0,24}$/);

const peerOptions = fc.record(
  {
    port: fc.integer({ min: 1, max: 65535 }),
    password: fc.stringMatching(/^[A-Za-z0-9!@%^*_+=.-]{1,20}$/),
    keepaliveTime: fc.integer({ min: 1, max: 60 }),
    connectRetry: fc.integer({ min: 1, max: 120 }),
    session: fc.oneof(fc.record({ ttlSecurity: fc.integer({ min: 1, max: 254 }) }), fc.record({ ebgpMultihop: fc.integer({ min: 2, max: 255 }) })),
    gracefulRestart: fc.record({ restartTime: fc.integer({ min: 1, max: 4095 }) }),
    description: safeText,
    type: fc.constantFrom('node-to-node mesh', 'global', 'node specific'),
    passive: fc.boolean(),
    bfd: fc.record({ intervalMs: fc.integer({ min: 10, max: 10000 }), multiplier: fc.integer({ min: 1, max: 255 }) }, { requiredKeys: [] }),
    routeReflectorClient: fc.boolean(),
    routeReflectorClusterId: addr4.map((a) => `198.18.${Number(a.value >> 8n) & 255}.${Number(a.value) & 255}`),
    nextHopMode: fc.constantFrom('auto' as const, 'self' as const, 'keep' as const),
    policy,
    local: fc.boolean(),
  },
  { requiredKeys: [] },
);

const peer = fc.tuple(address, asn, peerOptions, fc.oneof(addr4, addr6)).map(([a, as, o, local]): PeerConfig => {
  const { session, local: useLocal, keepaliveTime, ...rest } = o;
  const p: PeerConfig = { address: a, asn: as as PeerConfig['asn'], ...rest, ...session };
  if (keepaliveTime !== undefined) Object.assign(p, { keepaliveTime, holdTime: keepaliveTime * 3 });
  if (useLocal && local.family === a.family) p.localAddress = local;
  // What the renderer refuses by design, kept out so that most states are valid:
  // a route reflector client over eBGP (or a cluster id without one), BFD on a multihop session without a local address.
  if (p.asn !== 64512) delete p.routeReflectorClient;
  if (!p.routeReflectorClient) delete p.routeReflectorClusterId;
  if (p.bfd && (p.ebgpMultihop !== undefined || (p.ttlSecurity ?? 1) > 1)) p.localAddress = ipAddr(a.family, a.family === 4 ? V4_BASE + 11n : V6_BASE + 11n);
  return p;
});

const announcement = fc.tuple(prefix, fc.boolean(), fc.array(community, { maxLength: 3 })).map(([c, unspecified, communities]): Announcement => ({
  prefix: c,
  nextHop: unspecified ? ipAddr(c.family, 0n) : ipAddr(c.family, c.family === 4 ? V4_BASE + 11n : V6_BASE + 11n),
  communities,
}));

/** Unique by address and by prefix: the agent never hands the speaker two of one. */
function uniqueBy<T>(xs: readonly T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => !seen.has(key(x)) && Boolean(seen.add(key(x))));
}
const addrKey = (a: IPAddr): string => `${a.family}/${a.value}`;
const cidrKey = (c: Cidr): string => `${c.family}/${c.base}/${c.prefix}`;

const desired: fc.Arbitrary<BirdDesired> = fc
  .record({
    asn: fc.constant(64512),
    routerId: fc.constantFrom('198.18.0.11', '198.19.255.254', '10.0.0.1'),
    // -1 (no listening) is refused by the BIRD backend by design.
    listenPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    multipath: fc.option(fc.boolean(), { nil: undefined }),
    peers: fc.array(peer, { maxLength: 6 }),
    announcements: fc.array(announcement, { maxLength: 8 }),
  })
  .map(({ peers, announcements, ...g }) => ({
    global: Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined)) as unknown as BirdDesired['global'],
    peers: uniqueBy(peers, (p) => addrKey(p.address)),
    announcements: uniqueBy(announcements, (a) => cidrKey(a.prefix)),
  }));

describe('findings kept as regression examples', () => {
  // Rendered as it was, bird -p refused the whole file: "Multihop BGP with BFD requires specified local address".
  it('BFD on a multihop session without a local address is refused, naming the peer', () => {
    const p: PeerConfig = { address: ipAddr(4, V4_BASE + 12n), asn: 65000 as PeerConfig['asn'], ebgpMultihop: 2, bfd: {} };
    const out = bounded(() => renderBirdConfig({ global: { asn: 64512 as PeerConfig['asn'], routerId: '198.18.0.11' }, peers: [p], announcements: [] }), (e) => e instanceof TerraceError);
    expect(out.ok ? 'rendered' : out.error.message).toBe('bgp peer 198.18.0.12: bfd on a multihop session needs a local address (sourceAddress: UseNodeIP): BIRD sends BFD from it');
  });
});

describe('bird.conf from random desired states', () => {
  const dir = mkdtempSync(join(tmpdir(), 'terrace-bird-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders at once, the same every time, and bird -p accepts it', () => {
    let parsed = 0;
    let refused = 0;
    const reasons = new Set<string>();
    fc.assert(
      fc.property(desired, (d) => {
        const out = bounded(() => renderBirdConfig(d), (e) => e instanceof TerraceError);
        if (!out.ok) {
          refused++;
          reasons.add(out.error.message);
          return;
        }
        expect(renderBirdConfig(d).text).toBe(out.value.text);
        if (parsed < BIRD_PARSES) {
          parsed++;
          const f = join(dir, `fuzz${parsed}.conf`);
          writeFileSync(f, out.value.text);
          try {
            execFileSync('bird', ['-p', '-c', f], { stdio: ['ignore', 'pipe', 'pipe'] });
          } catch (e) {
            throw new Error(`bird -p refused ${f}: ${String((e as { stderr?: Buffer }).stderr ?? e)}\n${out.value.text}`);
          }
        }
      }),
      { numRuns: 200 },
    );
    // The generator makes valid states: the renderer takes nearly all of them (and says why not).
    expect([...reasons].slice(0, 5)).toEqual(refused < 5 ? [...reasons].slice(0, 5) : []);
    expect(parsed).toBe(BIRD_PARSES);
  });
});

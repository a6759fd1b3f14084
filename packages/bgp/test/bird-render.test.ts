/**
 * The BIRD renderer against golden files (test/testdata/bird/<scenario>.conf),
 * each of which the real `bird -p` must accept. Regenerate after an intended
 * change with UPDATE_GOLDEN=1 and review the diff.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCidr, parseIP, TerraceError } from '@terrace/api';
import { renderBirdConfig } from '../src/bird/render.js';
import { scenarios } from './bird-scenarios.js';

const goldenDir = new URL('../../test/testdata/bird/', import.meta.url);

function golden(name: string, actual: string): string {
  const file = new URL(`${name}.conf`, goldenDir);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${file.pathname} missing; run with UPDATE_GOLDEN=1`);
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
  return fileURLToPath(file);
}

/** `bird -p -c FILE`: throws with BIRD's message when it does not parse. */
export function birdParse(file: string): void {
  execFileSync('bird', ['-p', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('bird.conf rendering (golden)', () => {
  for (const [name, desired] of Object.entries(scenarios)) {
    it(`${name} matches its golden file and bird -p accepts it`, () => {
      const file = golden(name, renderBirdConfig(desired).text);
      expect(() => birdParse(file)).not.toThrow();
    });
  }

  it('is independent of input order', () => {
    const d = scenarios.mesh!;
    const a = renderBirdConfig(d).text;
    const b = renderBirdConfig({ ...d, peers: [...d.peers].reverse(), announcements: [...d.announcements].reverse() }).text;
    expect(b).toBe(a);
  });

  it('names each BGP protocol after its peer', () => {
    expect([...renderBirdConfig(scenarios.ipv6!).protocols.keys()]).toEqual(['ebgp_198_18_0_1', 'ebgp_2001_db8__1', 'ibgp_2001_db8__12']);
  });

  it('leaves the next hop to BIRD on single-hop eBGP sessions only', () => {
    const text = renderBirdConfig(scenarios['dual-homed']!).text;
    const filterOf = (proto: string): string | undefined => new RegExp(`protocol bgp ${proto} \\{[^}]*ipv4 \\{ import all; export filter (\\w+);`).exec(text)?.[1];
    expect(filterOf('ebgp_198_18_11_1')).toBe('terrace_export_ebgp4');
    expect(filterOf('ebgp_2001_db8_12__1')).toBe('terrace_export_ebgp4');
    expect(filterOf('ebgp_198_18_7_1')).toBe('terrace_export4');
    const body = (filter: string): string => new RegExp(`filter ${filter} \\{([^}]*)\\}`).exec(text)?.[1] ?? '';
    expect(body('terrace_export_ebgp4')).not.toContain('bgp_next_hop');
    expect(body('terrace_export_ebgp6')).not.toContain('bgp_next_hop');
    expect(body('terrace_export4')).toContain('bgp_next_hop = 198.18.1.1');
    // The unspecified next hop (a loopback-addressed node's) is BIRD's to choose on every session.
    expect(body('terrace_export4')).not.toContain('198.19.0.0/26');
    expect(body('terrace_export6')).not.toContain('bgp_next_hop');
    // iBGP keeps the node address whatever the hops.
    expect(renderBirdConfig(scenarios.mesh!).text).not.toContain('terrace_export_ebgp');
  });

  const base = scenarios['tor-password']!;
  const refuse = (patch: object, field: string): void => {
    const peer = { ...base.peers[0]!, ...patch };
    let err: unknown;
    try {
      renderBirdConfig({ ...base, peers: [peer] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerraceError);
    expect((err as TerraceError).field).toBe(field);
  };

  it('refuses values bird.conf cannot carry, naming the field', () => {
    refuse({ password: 'a"; include "/etc/x' }, 'password');
    refuse({ password: 'line\nbreak' }, 'password');
    refuse({ password: 'back\\slash' }, 'password');
    refuse({ asn: 0 }, 'asn');
    refuse({ asn: 1.5 }, 'asn');
    refuse({ asn: '65000; }' }, 'asn');
    refuse({ ttlSecurity: 1, ebgpMultihop: 2 }, 'ttlSecurity');
    refuse({ bfd: { intervalMs: 0 } }, 'bfd.intervalMs');
    refuse({ routeReflectorClient: true }, 'routeReflectorClient');
    refuse({ asn: 64512, routeReflectorClient: true, routeReflectorClusterId: '244.0.0.256' }, 'routeReflectorClusterId');
    refuse({ asn: 64512, routeReflectorClusterId: '244.0.0.1' }, 'routeReflectorClusterId');
    refuse({ nextHopMode: 'Self' }, 'nextHopMode');
    expect(() =>
      renderBirdConfig({ ...base, announcements: [{ prefix: parseCidr('10.244.1.0/26'), nextHop: parseIP('198.18.0.11'), communities: ['1:2"'] }] }),
    ).toThrow(expect.objectContaining({ field: 'communities' }) as unknown as Error);
    expect(() => renderBirdConfig({ ...base, global: { asn: 64512, routerId: '1.2.3.4; include "x"' } })).toThrow(
      expect.objectContaining({ field: 'routerId' }) as unknown as Error,
    );
  });

  it('keeps a description to a safe character set', () => {
    const text = renderBirdConfig({ ...base, peers: [{ ...base.peers[0]!, description: 'x"; }\ninclude "/etc/passwd"; #' }] }).text;
    expect(text).toContain('description "x__ __include _/etc/passwd__ _";');
  });
});

/** Parsing BIRD 2.0.12's control-socket answers (text captured from a real BIRD) and the socket client. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIP } from '@terrace/api';
import { waitFor } from '@terrace/testkit';
import { BirdControl, BirdControlError, parseReplyLines } from '../src/bird/control.js';
import { parseProtocols, parseRoutes, sessionState } from '../src/bird/status.js';

const PROTOCOLS = [
  '2002-Name       Proto      Table      State  Since         Info',
  '1002-terrace_own4 Static     master4    up     2026-12-07 12:55:35  ',
  '1006-  Channel ipv4',
  '     Routes:         1 imported, 0 exported, 1 preferred',
  '1002-ebgp_198_18_0_1 BGP        ---        up     2026-12-07 12:55:39  Established   ',
  '1006-  Description:    tor',
  '   BGP state:          Established',
  '     Neighbor address: 198.18.0.1',
  '   Channel ipv4',
  '     State:          UP',
  '     Routes:         2 imported, 1 exported, 1 preferred',
  '   Channel ipv6',
  '     State:          DOWN',
  ' ',
  '1002-ebgp_198_18_0_99 BGP        ---        start  2026-12-07 12:55:35  Active        Socket: Connection refused',
  '1006-  BGP state:          Active',
  '     Neighbor address: 198.18.0.99',
  '     Last error:       Socket: Connection refused',
  '0000 ',
];

const ROUTES = [
  '1007-Table master4:',
  ' 10.244.9.0/26        unicast [ebgp_198_18_0_1 12:55:39.882] * (100) [AS65000i]',
  ' \tvia 198.18.0.1 on e0',
  ' 10.244.8.0/26        unicast [ibgp_198_18_0_12 12:55:39.882] * (100) [i]',
  ' \tvia 198.18.0.12 on e0 weight 1',
  ' \tvia 198.18.0.13 on e0 weight 1',
  '0000 ',
];

describe('bird answers', () => {
  it('reads protocol status: state, since, counts, last error', () => {
    const ps = parseProtocols(parseReplyLines(PROTOCOLS));
    expect(ps.map((p) => p.name)).toEqual(['terrace_own4', 'ebgp_198_18_0_1', 'ebgp_198_18_0_99']);
    const up = ps[1]!;
    expect(up).toMatchObject({ proto: 'BGP', state: 'up', bgpState: 'Established', imported: 2, exported: 1, info: 'Established' });
    expect(up.since?.getFullYear()).toBe(2026);
    expect(sessionState(up.bgpState)).toBe('established');
    const down = ps[2]!;
    expect(down).toMatchObject({ bgpState: 'Active', lastError: 'Socket: Connection refused', info: 'Active: Socket: Connection refused' });
    expect(sessionState(down.bgpState)).toBe('active');
  });

  it('sums route change stats over channels: import updates received, export updates accepted', () => {
    const lines = [
      '1002-ibgp_198_18_0_11 BGP        ---        up     2026-12-07 12:55:39  Established   ',
      '1006-  BGP state:          Established',
      '   Channel ipv4',
      '     Routes:         2 imported, 1 exported, 1 preferred',
      '     Route change stats:     received   rejected   filtered    ignored   accepted',
      '       Import updates:              5          0          0          0          5',
      '       Import withdraws:            1          0        ---          0          1',
      '       Export updates:              7          2          0        ---          4',
      '       Export withdraws:            0        ---        ---        ---          0',
      '   Channel ipv6',
      '     Route change stats:     received   rejected   filtered    ignored   accepted',
      '       Import updates:              3          0          0          0          3',
      '       Export updates:              2          0          0        ---          2',
      '0000 ',
    ];
    const [p] = parseProtocols(parseReplyLines(lines));
    expect(p).toMatchObject({ importUpdates: 8, exportUpdates: 6 });
  });

  it('reads exported routes with every ECMP next hop', () => {
    const rs = parseRoutes(parseReplyLines(ROUTES));
    expect([...rs.keys()]).toEqual(['10.244.9.0/26', '10.244.8.0/26']);
    expect(rs.get('10.244.8.0/26')!.nextHops.map(formatIP)).toEqual(['198.18.0.12', '198.18.0.13']);
  });
});

describe('bird control socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'terrace-birdctl-'));
  const sock = join(dir, 'bird.ctl');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sends one command at a time and splits replies, errors as BirdControlError', async () => {
    const conns: import('node:net').Socket[] = [];
    const server = createServer((c) => {
      conns.push(c);
      c.write('0001 BIRD 2.0.12 ready.\n');
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const cmd = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (cmd === 'configure') c.write('0002-Reading configuration from /x\n0003 Reconfigured\n');
          else if (cmd === 'show route export terrace_kernel4') c.write(`${ROUTES.join('\n')}\n`);
          else c.write('9001 syntax error, unexpected CF_SYM_UNDEFINED\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const ctl = new BirdControl(sock);
    try {
      const [a, b] = await Promise.all([ctl.command('configure'), ctl.command('show route export terrace_kernel4')]);
      expect(a.code).toBe(3);
      expect(parseRoutes(b.lines).size).toBe(2);
      await expect(ctl.command('bogus')).rejects.toBeInstanceOf(BirdControlError);
      expect((await ctl.command('configure')).code).toBe(3);
      // BIRD restarted: the connection is gone; the next command dials again.
      for (const c of conns) c.destroy();
      // The point is the dial after a close the client has seen (a command
      // raced against the close is another matter): wait for it to see it.
      const client = ctl as unknown as { sock: unknown };
      await waitFor('the client to see the close', () => client.sock === undefined, 10_000, 5);
      expect((await ctl.command('configure')).code).toBe(3);
      expect(conns).toHaveLength(2);
    } finally {
      ctl.close();
      await new Promise((r) => server.close(r));
    }
  });
});

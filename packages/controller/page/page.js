// The status page: renders the controller's page state (/api/stream, one
// `state` event per change) with plain DOM calls; every value is set as
// text, never parsed as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function ago(iso) {
  if (!iso) return '-';
  const sec = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (sec < 90) return `${sec}s ago`;
  if (sec < 5400) return `${Math.round(sec / 60)}m ago`;
  return `${Math.round(sec / 3600)}h ago`;
}

function bar(used, size) {
  const pct = size > 0 ? Math.min(100, (100 * used) / size) : 0;
  const fillEl = h('i');
  // Set through the CSSOM: the page's CSP allows no inline style attributes.
  fillEl.style.width = `${pct}%`;
  return h('span', { class: 'bar', title: `${pct.toFixed(pct < 1 && pct > 0 ? 2 : 0)}%` }, fillEl);
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function badge(text, cls) {
  return h('span', { class: `badge ${cls || text}` }, text);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderHeader(st) {
  document.getElementById('cluster').textContent = `cluster ${st.cluster}`;
  document.getElementById('served-by').textContent = `${st.servedBy} (${st.leading ? 'leader' : 'standby'})`;
  const c = st.controller;
  const el = document.getElementById('controller');
  el.replaceChildren();
  if (!c) {
    el.append('no controller report yet');
    return;
  }
  const t = c.totals;
  el.append(
    `leader ${c.leader} since ${ago(c.leaderSince)} · last pass ${ago(c.lastPass)} `,
    c.stale ? badge('stale') : '',
    ` · grace ${c.graceSeconds}s · freed ${plural(t.addressesFreed, 'address', 'addresses')}, ${plural(t.blocksReleased, 'block', 'blocks')}, ${plural(t.nodesReleased, 'node', 'nodes')}`,
  );
}

function liveness(n) {
  if (n.controllerState === 'grace') return badge(`grace ${n.graceRemainingSeconds ?? '?'}s`, 'grace');
  if (n.controllerState === 'released') return badge('released');
  return n.alive ? badge('alive') : badge('lost');
}

function renderNodes(st) {
  fill(
    document.querySelector('#nodes tbody'),
    st.nodes.map((n) =>
      h(
        'tr',
        { 'data-node': n.name, 'data-alive': n.alive },
        h('td', {}, n.name, n.reflector ? h('span', { class: 'muted' }, ' (reflector)') : ''),
        h('td', {}, liveness(n), n.alive && n.statusStale ? badge('stale') : ''),
        h('td', {}, n.backend || '-'),
        h('td', {}, n.asNumber ?? '-'),
        h('td', {}, n.addresses.join(', ') || '-'),
        h('td', {}, n.prefixes ? `${n.prefixes.received} / ${n.prefixes.advertised}` : '-'),
        h(
          'td',
          {},
          ...(n.blocks.length === 0
            ? ['-']
            : n.blocks.map((b) =>
                h('span', { class: 'block', 'data-block': b.cidr, title: b.borrowed ? `${b.borrowed} lent to other nodes` : undefined }, bar(b.used, b.size), `${b.cidr} ${b.used}/${b.size}`),
              )),
        ),
      ),
    ),
  );
}

function renderPools(st) {
  fill(
    document.querySelector('#pools tbody'),
    st.pools.map((p) =>
      h(
        'tr',
        { 'data-pool': p.name },
        h('td', {}, p.name),
        h('td', {}, p.cidr),
        h('td', {}, `/${p.blockSize}`),
        h('td', {}, p.blocks),
        h('td', {}, bar(p.used, p.size), `${p.used} of ${p.size.toLocaleString('en')}`),
        h('td', {}, p.disabled ? badge('disabled', 'Unknown') : '', p.held ? h('span', { title: p.held }, badge('held')) : '', p.natOutgoing ? ' natOutgoing' : ''),
      ),
    ),
  );
}

function renderRemotes(st) {
  document.getElementById('remotes-section').hidden = st.remotes.length === 0;
  fill(
    document.querySelector('#remotes tbody'),
    st.remotes.map((r) =>
      h(
        'tr',
        { 'data-remote': r.name },
        h('td', {}, r.name),
        h('td', {}, r.clusterName),
        h('td', { title: r.error }, badge(r.connection), r.stale ? badge('stale') : ''),
        h('td', {}, ago(r.lastSynced)),
        h('td', {}, r.pools.map((p) => `${p.name} ${p.cidr}`).join(', ') || '-'),
        h('td', {}, `${r.nodes} / ${r.blocks}`),
        h('td', {}, r.overlaps.length === 0 ? '-' : r.overlaps.map((o) => `${o.pool} ↔ ${o.remotePool} (${o.fenced} fenced)`).join('; ')),
      ),
    ),
  );
}

function renderEvents(st) {
  const list = document.getElementById('events');
  if (st.events.length === 0) {
    list.replaceChildren(h('li', { class: 'muted' }, 'none recorded'));
    return;
  }
  list.replaceChildren(
    ...st.events.map((e) => h('li', { 'data-kind': e.kind }, h('time', { datetime: e.time, title: e.time }, new Date(e.time).toLocaleTimeString()), h('span', { class: 'kind' }, e.kind), e.message)),
  );
}

const BOX_W = 168;
const BOX_H = 38;
const ROW_GAP = 110;

// Rows from the top: routers and remote gateways, then reflectors, then nodes.
function layout(vertices) {
  const rows = [
    vertices.filter((v) => v.kind === 'external' || v.kind === 'remote'),
    vertices.filter((v) => v.kind === 'reflector'),
    vertices.filter((v) => v.kind === 'node'),
  ].filter((r) => r.length > 0);
  const width = Math.max(900, ...rows.map((r) => r.length * (BOX_W + 24)));
  const pos = new Map();
  rows.forEach((row, ri) => row.forEach((v, i) => pos.set(v.id, { x: ((i + 0.5) * width) / row.length, y: 30 + ri * ROW_GAP })));
  return { pos, width, rows: rows.length };
}

function renderGraph(st) {
  const svg = document.getElementById('graph');
  const { pos, width, rows } = layout(st.vertices);
  let bottom = 30 + Math.max(0, rows - 1) * ROW_GAP + BOX_H;
  const edges = [];
  for (const e of st.sessions) {
    const a = pos.get(e.a);
    const b = pos.get(e.b);
    if (!a || !b) continue;
    let d;
    if (a.y === b.y) {
      // Same row (the mesh): an arc below the row, deeper for farther pairs.
      const y = a.y + BOX_H;
      const depth = 22 + Math.abs(b.x - a.x) * 0.12;
      bottom = Math.max(bottom, y + depth / 2 + 6);
      d = `M ${a.x} ${y} Q ${(a.x + b.x) / 2} ${y + depth} ${b.x} ${y}`;
    } else {
      const [top, low] = a.y < b.y ? [a, b] : [b, a];
      if (low.y - top.y > ROW_GAP) {
        // Skips a row: bow sideways so it does not run under the boxes between.
        const bow = top.x === low.x ? BOX_W : 0.25 * (low.x - top.x);
        d = `M ${top.x} ${top.y + BOX_H} Q ${(top.x + low.x) / 2 + bow} ${(top.y + BOX_H + low.y) / 2} ${low.x} ${low.y}`;
      } else {
        d = `M ${top.x} ${top.y + BOX_H} L ${low.x} ${low.y}`;
      }
    }
    const label = (id) => (st.vertices.find((v) => v.id === id) || { label: id }).label;
    const detail = e.ends
      .map((x) => `${x.from}: ${x.state} (${x.type})${x.since ? ` since ${x.since}` : ''}, ${x.received} in / ${x.advertised} out${x.bfd ? `, BFD ${x.bfd}` : ''}${x.info ? ` — ${x.info}` : ''}`)
      .join('\n');
    edges.push(s('path', { class: `edge ${e.state}`, d, 'data-session': e.id, 'data-state': e.state }, s('title', {}, `${label(e.a)} ↔ ${label(e.b)}: ${e.state}\n${detail}`)));
  }
  const boxes = st.vertices
    .filter((v) => pos.has(v.id))
    .map((v) => {
      const p = pos.get(v.id);
      const cls = `vertex ${v.kind}${v.alive === false ? ' dead' : ''}`;
      return s(
        'g',
        { class: cls, 'data-vertex': v.id, transform: `translate(${p.x - BOX_W / 2} ${p.y})` },
        s('title', {}, `${v.label} (${v.kind})\n${v.detail}`),
        s('rect', { width: BOX_W, height: BOX_H, rx: 6 }),
        s('text', { x: BOX_W / 2, y: 16 }, v.label),
        s('text', { x: BOX_W / 2, y: 30, class: 'detail' }, v.detail.length > 34 ? `${v.detail.slice(0, 33)}…` : v.detail),
      );
    });
  svg.setAttribute('viewBox', `0 0 ${width} ${Math.ceil(bottom + 10)}`);
  svg.style.height = `${Math.ceil(bottom + 10)}px`;
  svg.replaceChildren(...edges, ...boxes);
  if (st.vertices.length === 0) svg.append(s('text', { x: 20, y: 40, class: 'row' }, 'no node has reported a BGP session yet'));
}

function render(st) {
  renderHeader(st);
  renderGraph(st);
  renderNodes(st);
  renderPools(st);
  renderRemotes(st);
  renderEvents(st);
  document.body.dataset.generatedAt = st.generatedAt;
}

function setLive(on, text) {
  const el = document.getElementById('live');
  el.className = `live ${on ? 'on' : 'off'}`;
  el.textContent = text;
}

function connect() {
  const es = new EventSource('api/stream');
  es.addEventListener('state', (m) => {
    const st = JSON.parse(m.data);
    render(st);
    setLive(true, `live · ${new Date(st.generatedAt).toLocaleTimeString()}`);
  });
  // EventSource reconnects by itself (retry 2 s); say so meanwhile.
  es.onerror = () => setLive(false, 'reconnecting…');
}

connect();

// Dependencies view: services as a layered graph (callers left of callees)
// with call counts, error rates and latency on the edges, and the same
// numbers as a table. Clicking a service lists its operations; clicking an
// edge offers the traces behind it. URL: #/deps?lookback=&node=&ep=&ec=
import {api, paths} from '../api.js';
import {h, s, clear, fmtDur, fmtPct, fmtCount, loading, errorBox, emptyBox, serviceColour} from '../dom.js';

const WINDOWS = [['15m', '15 min'], ['1h', '1 hour'], ['6h', '6 hours'], ['24h', '1 day'], ['168h', '7 days']];
const NW = 170, NH = 40, GX = 340, GY = 80, PAD = 30;

// Longest-path layering; edges that close a cycle are ignored for levels.
export function layout(edges) {
  const names = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
  const level = new Map(names.map((n) => [n, 0]));
  for (let it = 0; it < names.length; it++) {
    let changed = false;
    for (const e of edges) {
      if (e.parent === e.child) continue;
      const want = level.get(e.parent) + 1;
      if (want > level.get(e.child) && want < names.length) {
        level.set(e.child, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const cols = [];
  for (const n of names) (cols[level.get(n)] ||= []).push(n);
  const pos = new Map();
  cols.forEach((col, c) => {
    // Order by the mean row of the callers already placed, to cut crossings.
    const key = (n) => {
      const ys = edges.filter((e) => e.child === n && pos.has(e.parent)).map((e) => pos.get(e.parent).y);
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0;
    };
    col.sort((a, b) => key(a) - key(b) || (a < b ? -1 : 1));
    col.forEach((n, r) => pos.set(n, {x: PAD + c * GX, y: PAD + r * GY, col: c}));
  });
  const rows = Math.max(1, ...cols.map((c) => (c ? c.length : 0)));
  return {names, pos, width: PAD * 2 + Math.max(0, cols.length - 1) * GX + NW + 40, height: PAD * 2 + (rows - 1) * GY + NH + 20};
}

function edgeLabel(e) {
  return `${fmtCount(e.callCount)} calls · ${fmtPct(e.errorRate)} err · p99 ${fmtDur(e.p99Ns)}`;
}

export function render(root, {params, go}) {
  let p = Object.fromEntries(params);
  const ctl = new AbortController();
  const page = h('div');
  root.appendChild(page);
  let catalogue = null;

  const state = (extra) => ({lookback: p.lookback || '1h', node: p.node, ep: p.ep, ec: p.ec, ...extra});

  async function operationsOf(name) {
    if (!catalogue) catalogue = (await api(paths.services, null, {signal: ctl.signal})).services || [];
    const svc = catalogue.find((x) => x.name === name);
    return svc ? svc.operations : null;
  }

  function panelNode(panel, name) {
    clear(panel).append(h('h2', {style: {marginTop: 0}}, h('span', {class: 'dot', style: {background: serviceColour(name)}}), name),
      h('div', null, h('a', {href: `#/services?service=${encodeURIComponent(name)}&lookback=${p.lookback || '1h'}`}, 'Rates and latency →'), ' · ',
        h('a', {href: `#/search?service=${encodeURIComponent(name)}&lookback=${p.lookback || '1h'}&run=1`}, 'Find traces →')),
      h('h3', null, 'Operations'));
    const ops = h('div', null, loading());
    panel.appendChild(ops);
    operationsOf(name).then((list) => {
      clear(ops);
      if (!list) {
        ops.appendChild(h('div', {class: 'muted'}, 'Not instrumented: seen only as a peer of its callers.'));
        return;
      }
      ops.appendChild(h('table', {class: 'grid'}, h('tbody', null, list.map((o) => h('tr', null,
        h('td', null, h('a', {href: `#/search?service=${encodeURIComponent(name)}&operation=${encodeURIComponent(o.name)}&lookback=${p.lookback || '1h'}&run=1`}, o.name)),
        h('td', {class: 'muted'}, o.kind || ''))))));
    }).catch((e) => e.name !== 'AbortError' && clear(ops).appendChild(errorBox(e)));
  }

  function panelEdge(panel, e) {
    const kv = (k, v) => h('tr', null, h('td', null, k), h('td', null, v));
    clear(panel).append(h('h2', {style: {marginTop: 0}}, `${e.parent} → ${e.child}`),
      h('table', {class: 'kv'}, h('tbody', null, kv('calls', fmtCount(e.callCount)), kv('errors', `${fmtCount(e.errorCount)} (${fmtPct(e.errorRate)})`),
        kv('p50', fmtDur(e.p50Ns)), kv('p90', fmtDur(e.p90Ns)), kv('p95', fmtDur(e.p95Ns)), kv('p99', fmtDur(e.p99Ns)), kv('max', fmtDur(e.maxNs)))),
      h('p', null, h('a', {class: 'edge-search', href: `#/search?edge=${encodeURIComponent(e.parent + '>' + e.child)}&lookback=${p.lookback || '1h'}&run=1`},
        `Traces where ${e.parent} calls ${e.child} →`)),
      h('p', {class: 'muted'}, 'Latency is what the caller waited for (its client span when it has one).'));
  }

  async function load() {
    clear(page).appendChild(loading('Computing dependencies…'));
    const lookback = p.lookback || '1h';
    let body;
    try {
      body = await api(paths.deps, {lookback}, {signal: ctl.signal});
    } catch (e) {
      if (e.name !== 'AbortError') clear(page).appendChild(errorBox(e, load));
      return;
    }
    clear(page);
    const edges = body.edges || [];
    page.appendChild(h('div', {class: 'results-head'}, h('h1', null, 'Dependencies'),
      h('div', {class: 'quick'}, WINDOWS.map(([v, label]) =>
        h('button', {type: 'button', class: 'ghost' + (v === lookback ? ' on' : ''), on: {click: () => go('deps', '', {lookback: v})}}, label))),
      h('span', {class: 'muted'}, `${body.scannedTraces} traces examined`)));
    if (!edges.length) {
      page.appendChild(emptyBox('No calls between services in this window.', 'Pick a longer window, or send traces that cross services.'));
      return;
    }
    const L = layout(edges);
    const panel = h('aside', {class: 'card deps-panel'}, h('div', {class: 'muted'}, 'Click a service or an edge.'));
    const svg = s('svg', {class: 'graph', viewBox: `0 0 ${L.width} ${L.height}`, style: {maxHeight: '70vh'}, role: 'img', 'aria-label': 'Service dependency graph'});
    svg.append(s('defs', null, s('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
      s('path', {d: 'M0,0 L10,5 L0,10 z'}))));
    const edgeEls = [], nodeEls = new Map();
    const select = (kind, v, push = true) => {
      edgeEls.forEach((x) => x.el.classList.toggle('sel', kind === 'edge' && x.e === v));
      nodeEls.forEach((el, n) => el.classList.toggle('sel', kind === 'node' && n === v));
      if (kind === 'edge') panelEdge(panel, v);
      else if (kind === 'node') panelNode(panel, v);
      if (push) {
        p = {...p, node: kind === 'node' ? v : '', ep: kind === 'edge' ? v.parent : '', ec: kind === 'edge' ? v.child : ''};
        go('deps', '', state({}), {replace: true});
      }
    };
    // Ports: a node's outgoing edges leave from points spread down its
    // right side in the order of their targets, incoming ones likewise on
    // the left, so edges sharing a node do not share a line or a label.
    const port = new Map();
    const spread = (list, side, other) => {
      list.sort((x, y) => L.pos.get(other(x)).y - L.pos.get(other(y)).y);
      list.forEach((e, k) => port.set(side + '\u0000' + e.parent + '\u0000' + e.child, (NH * (k + 1)) / (list.length + 1)));
    };
    for (const n of L.names) {
      spread(edges.filter((e) => e.parent === n), 'out', (e) => e.child);
      spread(edges.filter((e) => e.child === n), 'in', (e) => e.parent);
    }
    const labels = s('g', {class: 'labels'});
    for (const e of edges) {
      const a = L.pos.get(e.parent), b = L.pos.get(e.child);
      const po = port.get('out\u0000' + e.parent + '\u0000' + e.child), pi = port.get('in\u0000' + e.parent + '\u0000' + e.child);
      let d, lx, ly;
      if (b.col > a.col) {
        const x1 = a.x + NW, y1 = a.y + po, x2 = b.x, y2 = b.y + pi, mx = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
        // The curve's midpoint (t = 0.5 of this cubic).
        lx = mx;
        ly = (y1 + y2) / 2 - 19; // both lines above the curve
      } else {
        // A call back to an earlier column (a cycle): loop under the nodes.
        const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW / 2, y2 = b.y + NH, low = Math.max(y1, y2) + 30;
        d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
        lx = (x1 + x2) / 2;
        ly = low;
      }
      const g = s('g', {class: 'edge' + (e.errorCount ? ' err' : ''), tabindex: 0, role: 'button', dataset: {parent: e.parent, child: e.child, calls: String(e.callCount)}},
        s('path', {d, class: 'hit'}), s('path', {d, 'marker-end': 'url(#arrow)'}),
        s('title', null, `${e.parent} → ${e.child}: ${edgeLabel(e)}`));
      const text = s('text', {x: lx, y: ly, 'text-anchor': 'middle', class: 'edge-label', dataset: {parent: e.parent, child: e.child}},
        s('tspan', {x: lx, dy: 0}, `${fmtCount(e.callCount)} calls · ${fmtPct(e.errorRate)} err`),
        s('tspan', {x: lx, dy: 13}, `p99 ${fmtDur(e.p99Ns)}`));
      for (const el of [g, text]) {
        el.addEventListener('click', () => select('edge', e));
        el.addEventListener('keydown', (ev) => ev.key === 'Enter' && select('edge', e));
      }
      edgeEls.push({e, el: g});
      svg.append(g);
      labels.append(text);
    }
    for (const n of L.names) {
      const q = L.pos.get(n);
      const label = n.length > 22 ? n.slice(0, 21) + '…' : n;
      const g = s('g', {class: 'node', tabindex: 0, role: 'button', dataset: {service: n}, transform: `translate(${q.x},${q.y})`},
        s('rect', {width: NW, height: NH, rx: 8}),
        s('rect', {width: 6, height: NH, rx: 3, style: {fill: serviceColour(n), stroke: 'none'}}),
        s('text', {x: 16, y: NH / 2 + 4}, label), s('title', null, n));
      g.addEventListener('click', () => select('node', n));
      g.addEventListener('keydown', (ev) => ev.key === 'Enter' && select('node', n));
      nodeEls.set(n, g);
      svg.append(g);
    }
    svg.append(labels);
    page.appendChild(h('div', {class: 'deps-layout'}, svg, panel));
    page.appendChild(h('h2', null, 'Calls between services'));
    page.appendChild(h('table', {class: 'grid deps-table'}, h('thead', null, h('tr', null,
      h('th', null, 'Caller'), h('th', null, 'Callee'), h('th', {class: 'num'}, 'Calls'), h('th', {class: 'num'}, 'Errors'), h('th', {class: 'num'}, 'Error rate'),
      h('th', {class: 'num'}, 'p50'), h('th', {class: 'num'}, 'p99'))),
      h('tbody', null, edges.map((e) => {
        const tr = h('tr', {class: 'clickable', dataset: {parent: e.parent, child: e.child}},
          h('td', null, e.parent), h('td', null, e.child), h('td', {class: 'num c-calls'}, fmtCount(e.callCount)), h('td', {class: 'num c-errors'}, fmtCount(e.errorCount)),
          h('td', {class: 'num c-err'}, fmtPct(e.errorRate)), h('td', {class: 'num'}, fmtDur(e.p50Ns)), h('td', {class: 'num c-p99'}, fmtDur(e.p99Ns)));
        tr.addEventListener('click', () => select('edge', e));
        return tr;
      }))));
    if (p.node && nodeEls.has(p.node)) select('node', p.node, false);
    else if (p.ep) {
      const e = edges.find((x) => x.parent === p.ep && x.child === p.ec);
      if (e) select('edge', e, false);
    }
    page.dataset.ready = '1';
  }
  load();
  return {
    update(params2) {
      const q = Object.fromEntries(params2);
      const reload = (q.lookback || '1h') !== (p.lookback || '1h');
      p = q;
      if (reload) load();
    },
    destroy() { ctl.abort(); },
  };
}

// Dependencies view: services as a layered graph (callers left of callees)
// with call counts, error rates and latency on the edges, and the same
// numbers as a table. Clicking a service lists its operations; clicking an
// edge offers the traces behind it. URL: #/deps?lookback=&node=&ep=&ec=
import {api, paths} from '../api.js';
import {h, s, clear, fmtDur, fmtPct, fmtCount, loading, errorBox, emptyBox, serviceColour} from '../dom.js';

const WINDOWS = [['15m', '15 min'], ['1h', '1 hour'], ['6h', '6 hours'], ['24h', '1 day'], ['168h', '7 days']];
const NW = 170, NH = 40; // service boxes
const LW = 150, LH = 32; // edge labels: two lines above their edge's line
const DH = 8; // an edge passing a column of boxes
const CG = 40, VG = 16, PAD = 24; // gaps between columns, between items in one, margin

// A layered drawing (in the manner of Sugiyama et al.): services sit in
// columns by the longest call path from a service nobody calls (edges that
// close a cycle do not count). Between two columns of services is a column
// of edge labels. An edge is a chain of slots, one per column it crosses:
// the first column after its caller holds its label (the line runs along
// the label's bottom), and every further column a thin slot of its own, so
// an edge that skips a column goes round the boxes there instead of
// through them, and no label covers a box, a line or another label. The
// order inside each column comes from barycenter sweeps (fewer crossings);
// heights from a few rounds of pulling each slot level with its neighbours.
// Returns {names, pos (service -> {x, y}), chains (edge -> slots), back
// (cycle-closing edges), width, height}.
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
  const ranks = [];
  const put = (item) => {
    (ranks[item.rank] ||= []).push(item);
    item.up = [];
    item.down = [];
    return item;
  };
  const nodeItem = new Map(names.map((n) => [n, put({kind: 'node', name: n, rank: 2 * level.get(n), h: NH, anchor: NH / 2})]));
  const chains = new Map(), back = [];
  for (const e of edges) {
    const a = level.get(e.parent), b = level.get(e.child);
    if (b <= a) {
      if (e.parent !== e.child) back.push(e);
      continue;
    }
    const chain = [nodeItem.get(e.parent)];
    for (let r = 2 * a + 1; r < 2 * b; r++)
      chain.push(put(r === 2 * a + 1 ? {kind: 'label', edge: e, rank: r, h: LH, anchor: LH} : {kind: 'pass', edge: e, rank: r, h: DH, anchor: DH / 2}));
    chain.push(nodeItem.get(e.child));
    for (let k = 1; k < chain.length; k++) {
      chain[k - 1].down.push(chain[k]);
      chain[k].up.push(chain[k - 1]);
    }
    chains.set(e, chain);
  }
  for (let r = 0; r < ranks.length; r++) ranks[r] ||= [];
  ranks.forEach((col) => col.forEach((it, i) => (it.order = i)));
  // Ordering: each item moves to the mean position of its neighbours in
  // the previous column (downward sweeps) or the next one (upward).
  const mean = (list, f) => (list.length ? list.reduce((t, x) => t + f(x), 0) / list.length : null);
  for (let sweep = 0; sweep < 8; sweep++) {
    const down = sweep % 2 === 0;
    for (let k = 1; k < ranks.length; k++) {
      const col = ranks[down ? k : ranks.length - 1 - k];
      const key = new Map(col.map((it) => [it, mean(down ? it.up : it.down, (x) => x.order)]));
      col.sort((x, y) => (key.get(x) ?? x.order) - (key.get(y) ?? y.order) || x.order - y.order);
      col.forEach((it, i) => (it.order = i));
    }
  }
  // Heights: stack each column, then pull every item towards the mean
  // line height of its neighbours, keeping the order and the gaps.
  for (const col of ranks) {
    let y = 0;
    for (const it of col) (it.y = y), (y += it.h + VG);
  }
  for (let round = 0; round < 12; round++) {
    const down = round % 2 === 0;
    for (let k = 0; k < ranks.length; k++) {
      const col = ranks[down ? k : ranks.length - 1 - k];
      const want = col.map((it) => {
        const m = mean([...it.up, ...it.down], (x) => x.y + x.anchor);
        return m === null ? it.y : m - it.anchor;
      });
      let bottom = -Infinity;
      col.forEach((it, i) => {
        it.y = Math.max(want[i], bottom + VG);
        bottom = it.y + it.h;
      });
      // Pushing down only would drift: shift the column back by the mean overshoot.
      const over = mean(col.map((it, i) => it.y - want[i]), (v) => v) || 0;
      col.forEach((it) => (it.y -= over / 2));
    }
  }
  const top = Math.min(...ranks.flat().map((it) => it.y));
  let x = PAD;
  const colX = ranks.map((col, r) => {
    const x0 = x;
    x += (r % 2 ? LW : NW) + CG;
    return x0;
  });
  for (const it of ranks.flat()) {
    it.y += PAD - top;
    it.x = colX[it.rank];
    it.w = it.rank % 2 ? LW : NW;
  }
  const pos = new Map(names.map((n) => [n, nodeItem.get(n)]));
  let height = Math.max(...ranks.flat().map((it) => it.y + it.h)) + PAD;
  if (back.length) height += 40; // room for the loops under the boxes
  return {names, pos, chains, back, width: x - CG + PAD, height};
}

// An edge's path through its slots: straight along each slot, smooth
// S-curves (horizontal at both ends) across the gaps. Also the label's box.
function route(chain, portOut, portIn) {
  const pts = [];
  const [src, dst] = [chain[0], chain[chain.length - 1]];
  pts.push([src.x + NW, src.y + portOut]);
  for (const it of chain.slice(1, -1)) pts.push([it.x, it.y + it.anchor], [it.x + it.w, it.y + it.anchor]);
  pts.push([dst.x, dst.y + portIn]);
  let d = `M${pts[0][0]},${pts[0][1]}`;
  for (let k = 1; k < pts.length; k++) {
    const [x0, y0] = pts[k - 1], [x1, y1] = pts[k];
    if (k % 2 === 0) d += ` L${x1},${y1}`;
    else {
      const mx = (x0 + x1) / 2;
      d += ` C${mx},${y0} ${mx},${y1} ${x1},${y1}`;
    }
  }
  return d;
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
      edgeEls.forEach((x) => {
        x.el.classList.toggle('sel', kind === 'edge' && x.e === v);
        x.label.classList.toggle('sel', kind === 'edge' && x.e === v);
      });
      nodeEls.forEach((el, n) => el.classList.toggle('sel', kind === 'node' && n === v));
      if (kind === 'edge') panelEdge(panel, v);
      else if (kind === 'node') panelNode(panel, v);
      if (push) {
        p = {...p, node: kind === 'node' ? v : '', ep: kind === 'edge' ? v.parent : '', ec: kind === 'edge' ? v.child : ''};
        go('deps', '', state({}), {replace: true});
      }
    };
    // Ports: a node's edges leave from points spread down its right side
    // in the order of their next slots, and arrive likewise on the left.
    const portOut = new Map(), portIn = new Map();
    for (const n of L.names) {
      const outs = [...L.chains].filter(([e]) => e.parent === n), ins = [...L.chains].filter(([e]) => e.child === n);
      outs.sort((x, y) => x[1][1].y - y[1][1].y || x[1][1].order - y[1][1].order);
      ins.sort((x, y) => x[1][x[1].length - 2].y - y[1][y[1].length - 2].y || x[1][x[1].length - 2].order - y[1][y[1].length - 2].order);
      outs.forEach(([e], k) => portOut.set(e, (NH * (k + 1)) / (outs.length + 1)));
      ins.forEach(([e], k) => portIn.set(e, (NH * (k + 1)) / (ins.length + 1)));
    }
    const labels = s('g', {class: 'labels'});
    const labelBox = (e, cx, y) => {
      const l1 = `${fmtCount(e.callCount)} calls · ${fmtPct(e.errorRate)} err`, l2 = `p99 ${fmtDur(e.p99Ns)}`;
      // No layout pass to measure text: about 6.2 px a character at 11 px.
      const w = Math.min(LW, Math.max(l1.length, l2.length) * 6.2 + 10);
      return s('g', {class: 'edge-label' + (e.errorCount ? ' err' : ''), dataset: {parent: e.parent, child: e.child}},
        s('rect', {x: cx - w / 2, y, width: w, height: LH - 4, rx: 4}),
        s('text', {x: cx, y: y + 12, 'text-anchor': 'middle'}, s('tspan', {x: cx}, l1), s('tspan', {x: cx, dy: 13}, l2)));
    };
    for (const e of edges) {
      const chain = L.chains.get(e);
      let d, label;
      if (chain) {
        d = route(chain, portOut.get(e), portIn.get(e));
        const lab = chain[1];
        label = labelBox(e, lab.x + LW / 2, lab.y);
      } else {
        // A call back to an earlier column (a cycle): loop under the boxes.
        const a = L.pos.get(e.parent), b = L.pos.get(e.child);
        const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW / 2, y2 = b.y + NH, low = L.height - 22;
        d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
        label = labelBox(e, (x1 + x2) / 2, low - LH / 2);
      }
      const g = s('g', {class: 'edge' + (e.errorCount ? ' err' : ''), tabindex: 0, role: 'button', dataset: {parent: e.parent, child: e.child, calls: String(e.callCount)}},
        s('path', {d, class: 'hit'}), s('path', {d, class: 'line', 'marker-end': 'url(#arrow)'}),
        s('title', null, `${e.parent} → ${e.child}: ${edgeLabel(e)}`));
      for (const el of [g, label]) {
        el.addEventListener('click', () => select('edge', e));
        el.addEventListener('keydown', (ev) => ev.key === 'Enter' && select('edge', e));
      }
      edgeEls.push({e, el: g, label});
      svg.append(g);
      labels.append(label);
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

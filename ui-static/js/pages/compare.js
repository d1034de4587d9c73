// Trace comparison: two call trees matched span by span on their path of
// (service, operation) from the root plus the occurrence among siblings,
// so the table shows which spans got slower or faster, which appeared in
// B and which disappeared. URL: #/compare?a={traceID}&b={traceID}&all=1
import {api, paths} from '../api.js';
import {h, clear, fmtDur, fmtDateTime, loading, errorBox, emptyBox, serviceColour} from '../dom.js';

const MAX_ROWS = 3000;

function keyed(tree) {
  const keyOf = new Map();
  const seen = new Map();
  const out = [];
  for (const s of tree.spans) {
    const pk = s.parentSpanID && keyOf.has(s.parentSpanID) ? keyOf.get(s.parentSpanID) : s.missingParent ? '?' : '';
    const base = pk + '/' + s.service + '\u0001' + s.operation;
    const n = seen.get(base) || 0;
    seen.set(base, n + 1);
    const key = base + '#' + n;
    keyOf.set(s.spanID, key);
    out.push({key, parentKey: pk, span: s});
  }
  return out;
}

// Merged pre-order rows: {depth, a, b, key}.
export function diffTrees(ta, tb) {
  const nodes = new Map();
  const roots = [];
  const add = (list, side) => {
    for (const k of list) {
      let n = nodes.get(k.key);
      if (!n) {
        n = {key: k.key, parentKey: k.parentKey, a: null, b: null, kids: []};
        nodes.set(k.key, n);
        const parent = nodes.get(k.parentKey);
        if (parent) parent.kids.push(n);
        else roots.push(n);
      }
      n[side] = k.span;
    }
  };
  add(keyed(ta), 'a');
  add(keyed(tb), 'b');
  const rows = [];
  const walk = (n, d) => {
    rows.push({depth: d, a: n.a, b: n.b, key: n.key});
    for (const c of n.kids) walk(c, d + 1);
  };
  roots.forEach((r) => walk(r, 0));
  return rows;
}

function classify(r) {
  if (!r.a) return 'added';
  if (!r.b) return 'removed';
  const d = r.b.durationNs - r.a.durationNs;
  if (Math.abs(d) >= Math.max(50e3, r.a.durationNs * 0.05)) return d > 0 ? 'slower' : 'faster';
  return 'same';
}

// The biggest changes in self time (time in a span not covered by its
// children). The label follows the self-time change it sits next to, not
// the span's total duration, which can move the other way (a span whose
// callee got faster while its own work got slower). Spans in both traces
// whose self time moved by less than 50 µs and 5% are left out.
export function selfChanges(rows, n = 5) {
  const out = [];
  for (const r of rows) {
    const d = (r.b ? r.b.selfNs : 0) - (r.a ? r.a.selfNs : 0);
    if (r.a && r.b && Math.abs(d) < Math.max(50e3, r.a.selfNs * 0.05)) continue;
    if (!d && r.a && r.b) continue;
    const label = !r.a ? 'appeared' : !r.b ? 'disappeared' : d > 0 ? 'slower' : 'faster';
    out.push({r, d, label, total: r.a && r.b ? r.b.durationNs - r.a.durationNs : null});
  }
  return out.sort((x, y) => Math.abs(y.d) - Math.abs(x.d)).slice(0, n);
}

const signed = (d) => (d >= 0 ? '+' : '−') + fmtDur(Math.abs(d));

// With only A known: recent traces of the same root operation to pick B from.
async function candidates(out, p, go, signal) {
  clear(out).appendChild(loading(`Finding recent traces of ${p.service}: ${p.operation}…`));
  let body;
  try {
    body = await api(paths.search, {service: p.service, operation: p.operation, lookback: '24h', limit: 50}, {signal});
  } catch (e) {
    if (e.name !== 'AbortError') clear(out).appendChild(errorBox(e));
    return;
  }
  clear(out);
  const list = (body.traces || []).filter((t) => t.traceID !== p.a && t.rootService === p.service && t.rootOperation === p.operation);
  out.appendChild(h('h2', null, `Pick B: recent traces of ${p.service}: ${p.operation}`));
  if (!list.length) {
    out.appendChild(emptyBox('No other trace of this operation in the last 24 hours.', 'Enter a trace ID for B above.'));
    return;
  }
  const tbody = h('tbody');
  for (const t of list)
    tbody.appendChild(h('tr', {class: 'clickable candidate', dataset: {trace: t.traceID}, on: {click: () => go('compare', '', {a: p.a, b: t.traceID})}},
      h('td', {class: 'mono'}, t.traceID.slice(0, 16)), h('td', null, fmtDateTime(t.startTimeUs)),
      h('td', {class: 'num'}, fmtDur(t.durationNs)), h('td', {class: 'num'}, `${t.spanCount} spans`),
      h('td', null, t.errorCount ? h('span', {class: 'badge err'}, `${t.errorCount} errors`) : null)));
  out.appendChild(h('table', {class: 'grid'}, h('thead', null, h('tr', null, h('th', null, 'Trace'), h('th', null, 'Start'),
    h('th', {class: 'num'}, 'Duration'), h('th', {class: 'num'}, 'Spans'), h('th', null, ''))), tbody));
  out.dataset.ready = '1';
}

export function render(root, {params, go}) {
  const p = Object.fromEntries(params);
  const ctl = new AbortController();
  const ia = h('input', {type: 'text', name: 'a', value: p.a || '', placeholder: 'trace ID (baseline)'});
  const ib = h('input', {type: 'text', name: 'b', value: p.b || '', placeholder: 'trace ID (to compare)'});
  const out = h('section', {class: 'cmp-out'});
  root.append(h('h1', null, 'Compare two traces'),
    h('form', {class: 'cmp-form', on: {submit: (e) => {
      e.preventDefault();
      go('compare', '', {a: ia.value.trim(), b: ib.value.trim()});
    }}}, h('label', null, 'A (baseline)', ia), h('label', null, 'B', ib), h('button', {type: 'submit'}, 'Compare'),
      h('span', {class: 'muted'}, 'Tip: tick two results on the search page, or use “Compare with…” on a trace.')),
    out);
  if (p.a && !p.b && p.service && p.operation) {
    candidates(out, p, go, ctl.signal);
    return {destroy() { ctl.abort(); }};
  }
  if (!p.a || !p.b) {
    out.appendChild(emptyBox('Give two trace IDs of the same operation.', 'Spans are matched by their path of service and operation from the root.'));
    return {destroy() {}};
  }
  (async function load() {
    clear(out).appendChild(loading('Loading both traces…'));
    let ta, tb;
    try {
      [ta, tb] = await Promise.all([api(paths.tree(p.a), null, {signal: ctl.signal}), api(paths.tree(p.b), null, {signal: ctl.signal})]);
    } catch (e) {
      if (e.name !== 'AbortError') clear(out).appendChild(errorBox(e, load));
      return;
    }
    clear(out);
    const rootOf = (t) => t.spans.find((s) => s.parentSpanID === null) || t.spans[0];
    const ra = rootOf(ta), rb = rootOf(tb);
    if (ra && rb && (ra.service !== rb.service || ra.operation !== rb.operation))
      out.appendChild(h('div', {class: 'error-box'}, `These traces start at different operations (${ra.service}: ${ra.operation} vs ${rb.service}: ${rb.operation}); the comparison matches what it can.`));
    const rows = diffTrees(ta, tb).map((r) => ({...r, cls: classify(r)}));
    const count = (c) => rows.filter((r) => r.cls === c).length;
    const total = tb.durationNs - ta.durationNs;
    out.appendChild(h('div', {class: 'cards'},
      h('div', {class: 'card stat'}, h('div', {class: 'v'}, `${fmtDur(ta.durationNs)} → ${fmtDur(tb.durationNs)}`), h('div', {class: 'k'}, `duration (${total >= 0 ? '+' : ''}${fmtDur(total)})`)),
      h('div', {class: 'card stat'}, h('div', {class: 'v c-slower'}, String(count('slower'))), h('div', {class: 'k'}, 'spans slower in B')),
      h('div', {class: 'card stat'}, h('div', {class: 'v c-faster'}, String(count('faster'))), h('div', {class: 'k'}, 'spans faster in B')),
      h('div', {class: 'card stat'}, h('div', {class: 'v c-added'}, String(count('added'))), h('div', {class: 'k'}, 'appeared in B')),
      h('div', {class: 'card stat'}, h('div', {class: 'v c-removed'}, String(count('removed'))), h('div', {class: 'k'}, 'disappeared from B'))));
    // Where the time went: the biggest changes in self time.
    const top = selfChanges(rows);
    if (top.length) {
      out.appendChild(h('h2', null, 'Biggest changes in self time'));
      out.appendChild(h('ol', {class: 'top-changes'}, top.map(({r, d, label, total}) => {
        const s = r.b || r.a;
        return h('li', {dataset: {delta: String(d), label}}, h('b', null, `${s.service}: ${s.operation}`), ` ${signed(d)} self time `,
          h('span', {class: 'change ' + label}, `(${label})`),
          total !== null && Math.sign(total) !== Math.sign(d) ? h('span', {class: 'muted'}, ` · total ${signed(total)}`) : null);
      })));
    }
    const onlyChanges = p.all !== '1';
    const shown = onlyChanges ? rows.filter((r, i) => r.cls !== 'same' || i === 0 || r.depth < 2) : rows;
    out.appendChild(h('div', {class: 'toolbar'}, h('h2', {style: {margin: 0}}, 'Span by span'),
      h('a', {href: `#/compare?a=${encodeURIComponent(p.a)}&b=${encodeURIComponent(p.b)}${onlyChanges ? '&all=1' : ''}`}, onlyChanges ? 'Show unchanged spans too' : 'Show changes only'),
      h('a', {href: '#/trace/' + p.a}, 'Open A'), h('a', {href: '#/trace/' + p.b}, 'Open B')));
    if (!rows.some((r) => r.cls !== 'same')) out.appendChild(emptyBox('No span differs by more than 5%.'));
    const maxAbs = Math.max(1, ...rows.map((r) => Math.abs((r.b ? r.b.durationNs : 0) - (r.a ? r.a.durationNs : 0))));
    const tbody = h('tbody');
    for (const r of shown.slice(0, MAX_ROWS)) {
      const s = r.b || r.a;
      const d = r.a && r.b ? r.b.durationNs - r.a.durationNs : null;
      const label = {added: 'appeared', removed: 'disappeared', slower: 'slower', faster: 'faster', same: ''}[r.cls];
      tbody.appendChild(h('tr', {class: r.cls, dataset: {op: s.operation, cls: r.cls}},
        h('td', {class: 'cmp-name', style: {paddingLeft: 8 + Math.min(r.depth, 30) * 14 + 'px'}},
          h('span', {class: 'dot', style: {background: serviceColour(s.service)}}), h('span', {class: 'muted'}, s.service + ' '), s.operation),
        h('td', {class: 'num'}, r.a ? fmtDur(r.a.durationNs) : '—'),
        h('td', {class: 'num'}, r.b ? fmtDur(r.b.durationNs) : '—'),
        h('td', {class: 'num delta'}, d === null ? '' : (d >= 0 ? '+' : '−') + fmtDur(Math.abs(d))),
        h('td', {style: {width: '140px'}}, d === null ? null : h('div', {style: {height: '8px', width: (Math.abs(d) / maxAbs) * 100 + '%',
          background: d > 0 ? 'var(--warn)' : 'var(--ok)', borderRadius: '2px'}})),
        h('td', null, label)));
    }
    out.appendChild(h('table', {class: 'grid cmp-table'}, h('thead', null, h('tr', null, h('th', null, 'Span'), h('th', {class: 'num'}, 'A'), h('th', {class: 'num'}, 'B'),
      h('th', {class: 'num'}, 'B − A'), h('th', null, ''), h('th', null, 'Change'))), tbody));
    if (shown.length > MAX_ROWS) out.appendChild(h('div', {class: 'muted'}, `${shown.length - MAX_ROWS} more rows not shown.`));
    out.dataset.ready = '1';
  })();
  return {destroy() { ctl.abort(); }};
}

// Search view: the form (service, operation, attributes, session ID,
// duration and time range, limit) lives in the URL; results are trace
// summaries from /api/v1/search with a scatter plot of duration over time,
// paging by cursor, and a pick of two traces to compare.
import {api, paths} from '../api.js';
import {h, clear, fmtDur, fmtDateTime, loading, errorBox, emptyBox, serviceColour} from '../dom.js';
import {scatter} from '../charts.js';
import {summaryText, summaryNodes} from '../names.js';

const QUICK = [['15m', 'Last 15 min'], ['1h', 'Last hour'], ['24h', 'Last day'], ['168h', 'Last 7 days']];

function toLocalInput(us) {
  if (!us) return '';
  const d = new Date(Number(us) / 1000);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

function fromLocalInput(v) {
  if (!v) return '';
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? String(t * 1000) : '';
}

// "k=v; k2=v2" (or one per line) -> ["k:v", "k2:v2"]
export function parseAttrs(text) {
  const out = [];
  for (const part of (text || '').split(/[;\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`attribute condition "${t}" should look like key=value`);
    out.push(t.slice(0, eq).trim() + ':' + t.slice(eq + 1).trim());
  }
  return out;
}

export function render(root, {params, go}) {
  let p = Object.fromEntries(params);
  const ctl = new AbortController();
  const form = h('form', {class: 'search-form', autocomplete: 'off'});
  const results = h('section', {class: 'results', 'aria-live': 'polite'});
  root.appendChild(h('div', {class: 'search-layout'}, form, results));

  const svcSel = h('select', {name: 'service', 'aria-label': 'Service'}, h('option', {value: ''}, 'All services'));
  const opSel = h('select', {name: 'operation', 'aria-label': 'Operation'}, h('option', {value: ''}, 'All operations'));
  const attrs = h('input', {type: 'text', name: 'attrs', placeholder: 'http.method=POST; user.tier=gold'});
  const session = h('input', {type: 'text', name: 'session', placeholder: 'e.g. sess-42'});
  const minD = h('input', {type: 'text', name: 'minDuration', placeholder: 'e.g. 100ms'});
  const maxD = h('input', {type: 'text', name: 'maxDuration', placeholder: 'e.g. 2s'});
  const start = h('input', {type: 'datetime-local', name: 'start'});
  const end = h('input', {type: 'datetime-local', name: 'end'});
  const limit = h('input', {type: 'number', name: 'limit', min: 1, max: 1000, value: '20'});
  const quick = h('div', {class: 'quick'});
  let lookback = '1h';
  const svcMsg = h('div');
  let catalogue = [];

  const fillOps = () => {
    clear(opSel).appendChild(h('option', {value: ''}, 'All operations'));
    const svc = catalogue.find((x) => x.name === svcSel.value);
    const seen = new Set();
    for (const o of (svc && svc.operations) || []) {
      if (seen.has(o.name)) continue;
      seen.add(o.name);
      opSel.appendChild(h('option', {value: o.name}, o.name));
    }
    opSel.value = p.operation && seen.has(p.operation) ? p.operation : '';
  };
  const paintQuick = () => {
    clear(quick);
    for (const [v, label] of QUICK)
      quick.appendChild(h('button', {type: 'button', class: 'ghost' + (lookback === v && !start.value ? ' on' : ''), dataset: {lookback: v},
        on: {click: () => {
          lookback = v;
          start.value = end.value = '';
          paintQuick();
        }}}, label));
  };

  form.append(
    h('h2', {style: {margin: 0}}, 'Find traces'), svcMsg,
    h('label', null, 'Service', svcSel),
    h('label', null, 'Operation', opSel),
    h('label', null, 'Session ID', session),
    h('label', null, 'Attributes (key=value; …)', attrs),
    h('div', {class: 'row2'}, h('label', null, 'Min duration', minD), h('label', null, 'Max duration', maxD)),
    h('label', null, 'Time range', quick),
    h('div', {class: 'row2'}, h('label', null, 'From', start), h('label', null, 'To', end)),
    h('label', null, 'Limit', limit),
    h('button', {type: 'submit'}, 'Find traces'));
  svcSel.addEventListener('change', () => {
    p.operation = '';
    fillOps();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = {
      service: svcSel.value, operation: opSel.value, session: session.value.trim(), attrs: attrs.value.trim(),
      minDuration: minD.value.trim(), maxDuration: maxD.value.trim(), limit: limit.value !== '20' ? limit.value : '',
      start: fromLocalInput(start.value), end: fromLocalInput(end.value), edge: p.edge || '',
    };
    if (!next.start && !next.end) next.lookback = lookback;
    next.run = '1';
    go('search', '', next);
  });

  function setForm() {
    session.value = p.session || '';
    attrs.value = p.attrs || '';
    minD.value = p.minDuration || '';
    maxD.value = p.maxDuration || '';
    limit.value = p.limit || '20';
    start.value = toLocalInput(p.start);
    end.value = toLocalInput(p.end);
    lookback = p.lookback || '1h';
    svcSel.value = p.service || '';
    fillOps();
    paintQuick();
  }

  api(paths.services, null, {signal: ctl.signal}).then((body) => {
    catalogue = body.services || [];
    for (const svc of catalogue) svcSel.appendChild(h('option', {value: svc.name}, svc.name));
    if (p.service && !catalogue.some((x) => x.name === p.service)) svcSel.appendChild(h('option', {value: p.service}, p.service));
    svcSel.value = p.service || '';
    fillOps();
  }).catch((e) => {
    if (e.name !== 'AbortError') svcMsg.appendChild(errorBox(new Error('cannot list services: ' + e.message)));
  });

  const picked = new Set();
  let traces = [];
  let cursor = null;

  function apiParams(extra) {
    let conds;
    conds = parseAttrs(p.attrs);
    if (p.session) conds.push('session.id:' + p.session);
    // edge=A>B: traces where service A calls B (the dependency graph's
    // edge links); older links said service=B&withService=A.
    const edge = p.edge || (p.withService && p.service ? `${p.withService}>${p.service}` : '');
    return {
      service: p.service, operation: p.operation, attr: conds, edge, minDuration: p.minDuration, maxDuration: p.maxDuration,
      start: p.start, end: p.end, lookback: p.start || p.end ? '' : p.lookback || '1h', limit: p.limit, ...extra,
    };
  }

  function draw(body) {
    clear(results);
    const shown = traces;
    const edge = apiParams({}).edge;
    const head = h('div', {class: 'results-head'},
      h('h2', {style: {margin: 0}}, `${shown.length} trace${shown.length === 1 ? '' : 's'}`),
      edge ? h('span', {class: 'chip edge-chip'}, `calls ${edge.replace('>', ' → ')} `,
        h('a', {href: '#', title: 'Remove this condition', on: {click: (ev) => {
          ev.preventDefault();
          go('search', '', {...p, edge: '', withService: ''});
        }}}, '×')) : null,
      p.session ? h('a', {href: '#/session/' + encodeURIComponent(p.session)}, 'Open the session timeline →') : null,
      h('span', {class: 'muted'}, body ? `${body.scanned} examined` : ''),
      h('button', {type: 'button', class: 'ghost', id: 'compare-btn', disabled: picked.size !== 2,
        on: {click: () => {
          const [a, b] = [...picked];
          go('compare', '', {a, b});
        }}}, `Compare selected (${picked.size}/2)`));
    results.appendChild(head);
    if (!shown.length) {
      results.appendChild(emptyBox('No traces match these conditions.', 'Widen the time range, or remove a condition.'));
      return;
    }
    const maxDur = Math.max(...shown.map((t) => t.durationNs));
    results.appendChild(scatter(shown.map((t) => ({
      x: t.startTimeUs, y: t.durationNs, r: Math.min(10, 3 + Math.log2(1 + t.spanCount)), err: t.errorCount > 0,
      title: `${summaryText(t)}\n${fmtDur(t.durationNs)}, ${t.spanCount} spans`,
      dataset: {trace: t.traceID}, onClick: () => go('trace', t.traceID, {}),
    }))));
    const list = h('div', {class: 'result-list', style: {marginTop: '10px'}});
    for (const t of shown) {
      const box = h('input', {type: 'checkbox', checked: picked.has(t.traceID), 'aria-label': 'pick for comparison',
        on: {change: (e) => {
          if (e.target.checked) picked.add(t.traceID);
          else picked.delete(t.traceID);
          while (picked.size > 2) picked.delete(picked.values().next().value);
          draw(body);
        }}});
      list.appendChild(h('div', {class: 'result', dataset: {trace: t.traceID}},
        box,
        h('div', null,
          h('a', {class: 'title', href: '#/trace/' + t.traceID}, summaryNodes(t)),
          h('div', {class: 'meta'}, fmtDateTime(t.startTimeUs), ' · ', h('span', {class: 'mono'}, t.traceID)),
          h('div', null, t.services.map((sv) => h('span', {class: 'chip'}, h('span', {class: 'dot', style: {background: serviceColour(sv)}}), sv))),
          h('div', {class: 'durbar', style: {width: Math.max(1, (t.durationNs / maxDur) * 100) + '%'}})),
        h('div', {class: 'right'},
          h('div', null, h('b', null, fmtDur(t.durationNs))),
          h('div', {class: 'meta'}, `${t.spanCount} span${t.spanCount === 1 ? '' : 's'}`),
          t.errorCount ? h('span', {class: 'badge err'}, `${t.errorCount} error${t.errorCount > 1 ? 's' : ''}`) : null)));
    }
    results.appendChild(list);
    if (cursor)
      results.appendChild(h('button', {type: 'button', class: 'ghost', on: {click: () => run(true)}}, 'Load more'));
  }

  async function run(more = false) {
    if (!more) {
      traces = [];
      cursor = null;
      clear(results).appendChild(loading('Searching…'));
    }
    let body;
    try {
      body = await api(paths.search, apiParams(more ? {cursor} : {}), {signal: ctl.signal});
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(results).appendChild(errorBox(e, () => run(false)));
      return;
    }
    traces = traces.concat(body.traces || []);
    cursor = body.nextCursor;
    draw(body);
  }

  setForm();
  const searched = () => p.run || p.service || p.session || p.attrs || p.edge;
  if (searched()) run();
  else results.appendChild(emptyBox('Pick conditions and press “Find traces”.', 'Tip: a session ID finds every trace of one user’s session.'));
  return {
    update(params2) {
      p = Object.fromEntries(params2);
      setForm();
      if (searched()) run();
    },
    destroy() { ctl.abort(); },
  };
}

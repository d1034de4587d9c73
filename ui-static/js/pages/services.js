// Services view: for the chosen service, window and span kind, the rate,
// error rate and latency percentiles in total and per operation
// (/api/v1/stats), charts of each over time, and for an opened operation
// the latency histogram of all its calls in the window (from the same
// response). Requests are the service's server spans (consumer spans for a
// service that only receives messages); its client or internal spans, or
// all of them, are one click away, and every number says which it counts.
// URL: #/services?service=&lookback=&kind=&op=
import {api, paths} from '../api.js';
import {h, clear, fmtDur, fmtPct, fmtCount, loading, errorBox, emptyBox, serviceColour} from '../dom.js';
import {lineChart, sparkline, histogram} from '../charts.js';

// Steps are whole minutes: the server answers those from per-minute rows.
const WINDOWS = [['15m', '15 min', '1m'], ['1h', '1 hour', '1m'], ['6h', '6 hours', '10m'], ['24h', '1 day', '30m']];

// [kind, tab, what one is called, what the numbers count]
const KINDS = [
  ['server', 'Requests', 'requests', 'server spans: the requests this service answered'],
  ['consumer', 'Messages', 'messages', 'consumer spans: the messages this service received'],
  ['client', 'Outgoing calls', 'calls', 'client spans: the calls this service made to others'],
  ['producer', 'Sent messages', 'messages sent', 'producer spans: the messages this service sent'],
  ['internal', 'Internal', 'spans', 'internal spans: work inside this service'],
  ['all', 'All spans', 'spans', 'every span of this service, of any kind'],
];
const kindInfo = (k) => KINDS.find((x) => x[0] === k) || KINDS[KINDS.length - 1];

function stepOf(lookback) {
  const w = WINDOWS.find((x) => x[0] === lookback);
  return w ? w[2] : '1m';
}

// One rate unit for the whole page (cards, table and charts): per second
// when the service averages at least one a second in the window, else per
// minute.
export function rateUnit(count, seconds) {
  return count / seconds >= 1 ? {per: 1, name: 'second', short: '/s'} : {per: 60, name: 'minute', short: '/min'};
}

function fmtIn(unit, perSec) {
  const v = perSec * unit.per;
  return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + unit.short;
}

function seriesOf(agg, stepNs, f) {
  const out = (agg.series || []).map((b) => ({t: b.timeUs, v: f(b, stepNs)}));
  out.step = stepNs / 1000;
  return out;
}

function charts(agg, body, view) {
  const t0 = body.startTimeUs, t1 = body.endTimeUs, step = body.stepNs, u = view.unit;
  // Each bar is a step's average; say so when a step is not one unit.
  const title = `${view.tab} per ${u.name}` + (step / 1e9 === u.per ? '' : ` · ${fmtDur(step)} bars`);
  return h('div', {class: 'charts'},
    h('div', {class: 'card'}, lineChart(seriesOf(agg, step, (b, st) => (b.count / (st / 1e9)) * u.per),
      {t0, t1, title, fmt: (v) => v.toFixed(v >= 10 ? 0 : 2), bars: true})),
    h('div', {class: 'card'}, lineChart(seriesOf(agg, step, (b) => b.errorRate), {t0, t1, title: 'Error rate', fmt: fmtPct, bars: true, err: true})),
    h('div', {class: 'card'}, lineChart(seriesOf(agg, step, (b) => b.p99Ns), {t0, t1, title: 'Latency p99', fmt: fmtDur})));
}

function cards(agg, seconds, view) {
  const c = (k, v, cls) => h('div', {class: 'card stat ' + cls}, h('div', {class: 'v'}, v), h('div', {class: 'k'}, k));
  return h('div', {class: 'cards'},
    c(view.noun, fmtCount(agg.count), 'total-count'),
    c(`${view.noun} per ${view.unit.name} (window average)`, fmtIn(view.unit, agg.count / seconds), 'total-rate'),
    c('error rate', fmtPct(agg.errorRate), 'total-err'),
    c('p50', fmtDur(agg.p50Ns), 'total-p50'),
    c('p90', fmtDur(agg.p90Ns), 'total-p90'),
    c('p99', fmtDur(agg.p99Ns), 'total-p99'));
}

// The kinds a service has spans of (from the service catalogue), and the
// one shown by default: requests, else messages received, else all.
export function kindsOf(svc) {
  const have = new Set(((svc && svc.operations) || []).map((o) => o.kind).filter(Boolean));
  const kinds = KINDS.map((k) => k[0]).filter((k) => k === 'all' || have.has(k));
  return {kinds, preferred: have.has('server') ? 'server' : have.has('consumer') ? 'consumer' : 'all'};
}

export function render(root, {params, go}) {
  let p = Object.fromEntries(params);
  const ctl = new AbortController();
  const side = h('nav', {class: 'svc-list', 'aria-label': 'Services'});
  const main = h('section', {class: 'svc-main'});
  root.appendChild(h('div', {class: 'svc-layout'}, h('div', null, h('h2', {style: {marginTop: 0}}, 'Services'), side), main));
  let list = [];

  function paintSide() {
    clear(side);
    if (!list.length) side.appendChild(h('div', {class: 'muted'}, 'No services yet.'));
    for (const s of list)
      side.appendChild(h('a', {href: `#/services?service=${encodeURIComponent(s.name)}&lookback=${p.lookback || '1h'}`, class: s.name === p.service ? 'active' : ''},
        h('span', {class: 'dot', style: {background: serviceColour(s.name)}}), s.name));
  }

  async function loadList() {
    side.appendChild(loading());
    try {
      list = (await api(paths.services, null, {signal: ctl.signal})).services || [];
    } catch (e) {
      if (e.name !== 'AbortError') clear(side).appendChild(errorBox(e, loadList));
      return;
    }
    paintSide();
    if (!p.service && list.length) {
      p.service = list[0].name;
      go('services', '', {service: p.service, lookback: p.lookback || '1h'}, {replace: true});
      paintSide();
    } else if (!list.length && !p.service) {
      clear(main).appendChild(emptyBox('No services have sent spans yet.'));
    }
  }

  function openOp(op, holder, body, view) {
    clear(holder).appendChild(charts(op, body, view));
    holder.appendChild(h('div', {class: 'card', style: {marginTop: '10px'}},
      histogram(op.histogram, {title: `Latency histogram of ${fmtCount(op.count)} ${view.noun} in this window`}),
      h('div', null, h('a', {href: `#/search?service=${encodeURIComponent(p.service)}&operation=${encodeURIComponent(op.operation)}&lookback=${p.lookback || '1h'}&run=1`}, 'Find these traces →'))));
  }

  async function loadStats() {
    if (!p.service) return;
    clear(main).appendChild(loading('Computing statistics…'));
    const lookback = p.lookback || '1h';
    const {kinds, preferred} = kindsOf(list.find((x) => x.name === p.service));
    const kind = p.kind && KINDS.some((k) => k[0] === p.kind) ? p.kind : preferred;
    const [, tab, noun, what] = kindInfo(kind);
    let body;
    try {
      body = await api(paths.stats, {service: p.service, lookback, step: stepOf(lookback), spanKind: kind}, {signal: ctl.signal});
    } catch (e) {
      if (e.name !== 'AbortError') clear(main).appendChild(errorBox(e, loadStats));
      return;
    }
    clear(main);
    const seconds = Math.max(1, (body.endTimeUs - body.startTimeUs) / 1e6);
    const nav = (extra) => go('services', '', {service: p.service, lookback, kind: p.kind, ...extra});
    main.appendChild(h('div', {class: 'results-head'},
      h('h1', {class: 'svc-name'}, p.service),
      h('div', {class: 'quick'}, WINDOWS.map(([v, label]) =>
        h('button', {type: 'button', class: 'ghost' + (v === lookback ? ' on' : ''), on: {click: () => nav({lookback: v})}}, label))),
      h('span', {class: 'muted'}, body.source === 'store' ? `from ${body.storeRows} per-minute rows` : `${body.scannedTraces} traces examined`)));
    main.appendChild(h('div', {class: 'results-head kinds'},
      h('div', {class: 'quick', role: 'tablist', 'aria-label': 'Span kind'}, (kinds.includes(kind) ? kinds : [...kinds, kind]).map((k) =>
        h('button', {type: 'button', role: 'tab', class: 'ghost' + (k === kind ? ' on' : ''), 'aria-selected': String(k === kind), dataset: {kind: k},
          on: {click: () => nav({kind: k, op: ''})}}, kindInfo(k)[1]))),
      h('span', {class: 'muted counting'}, `Counting ${what}.`)));
    if (!body.total || !body.total.count) {
      main.appendChild(emptyBox(`No ${noun} of ${p.service} in this window.`, 'Pick a longer window or another kind of span.'));
      main.dataset.ready = '1';
      return;
    }
    const view = {tab, noun, unit: rateUnit(body.total.count, seconds)};
    main.appendChild(cards(body.total, seconds, view));
    main.appendChild(charts(body.total, body, view));
    main.appendChild(h('h2', null, 'Operations'));
    const tbody = h('tbody');
    main.appendChild(h('table', {class: 'grid ops'}, h('thead', null, h('tr', null,
      h('th', null, 'Operation'), h('th', {class: 'num'}, tab), h('th', {class: 'num'}, `Rate (per ${view.unit.name})`), h('th', {class: 'num'}, 'Error rate'),
      h('th', {class: 'num'}, 'p50'), h('th', {class: 'num'}, 'p90'), h('th', {class: 'num'}, 'p99'), h('th', {class: 'num'}, 'Max'), h('th', null, `${tab} over time`))), tbody));
    for (const op of body.operations || []) {
      const detail = h('tr', {class: 'op-detail', hidden: op.operation !== p.op}, h('td', {colspan: 9}));
      const row = h('tr', {class: 'clickable', dataset: {op: op.operation, count: String(op.count), errors: String(op.errors), p99: String(op.p99Ns)},
        tabindex: 0, 'aria-expanded': String(op.operation === p.op)},
        h('td', null, op.operation),
        h('td', {class: 'num c-count'}, fmtCount(op.count)),
        h('td', {class: 'num c-rate'}, fmtIn(view.unit, op.count / seconds)),
        h('td', {class: 'num c-err'}, fmtPct(op.errorRate)),
        h('td', {class: 'num c-p50'}, fmtDur(op.p50Ns)),
        h('td', {class: 'num c-p90'}, fmtDur(op.p90Ns)),
        h('td', {class: 'num c-p99'}, fmtDur(op.p99Ns)),
        h('td', {class: 'num c-max'}, fmtDur(op.maxNs)),
        h('td', null, sparkline((op.series || []).map((b) => b.count))));
      const toggle = () => {
        const opening = detail.hidden;
        detail.hidden = !opening;
        row.setAttribute('aria-expanded', String(opening));
        p.op = opening ? op.operation : '';
        go('services', '', {service: p.service, lookback: p.lookback, kind: p.kind, op: p.op}, {replace: true});
        if (opening) openOp(op, detail.firstChild, body, view);
      };
      row.addEventListener('click', toggle);
      row.addEventListener('keydown', (e) => e.key === 'Enter' && toggle());
      tbody.append(row, detail);
      if (op.operation === p.op) openOp(op, detail.firstChild, body, view);
    }
    main.dataset.ready = '1';
  }

  loadList().then(() => p.service && loadStats());
  return {
    update(params2) {
      p = Object.fromEntries(params2);
      paintSide();
      loadStats();
    },
    destroy() { ctl.abort(); },
  };
}

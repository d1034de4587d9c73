// Services view: for the chosen service and window, request rate, error
// rate and latency percentiles in total and per operation (/api/v1/stats),
// charts of each over time, and for an opened operation the latency
// histogram of all its calls in the window (from the same response).
// URL: #/services?service=&lookback=&op=
import {api, paths} from '../api.js';
import {h, clear, fmtDur, fmtPct, fmtRate, fmtCount, loading, errorBox, emptyBox, serviceColour} from '../dom.js';
import {lineChart, sparkline, histogram} from '../charts.js';

// Steps are whole minutes: the server answers those from per-minute rows.
const WINDOWS = [['15m', '15 min', '1m'], ['1h', '1 hour', '1m'], ['6h', '6 hours', '10m'], ['24h', '1 day', '30m']];

function stepOf(lookback) {
  const w = WINDOWS.find((x) => x[0] === lookback);
  return w ? w[2] : '1m';
}

function seriesOf(agg, stepNs, f) {
  const out = (agg.series || []).map((b) => ({t: b.timeUs, v: f(b, stepNs)}));
  out.step = stepNs / 1000;
  return out;
}

function charts(agg, body) {
  const t0 = body.startTimeUs, t1 = body.endTimeUs, step = body.stepNs;
  return h('div', {class: 'charts'},
    h('div', {class: 'card'}, lineChart(seriesOf(agg, step, (b, st) => b.count / (st / 1e9)), {t0, t1, title: 'Requests per second', fmt: (v) => v.toFixed(v >= 10 ? 0 : 2), bars: true})),
    h('div', {class: 'card'}, lineChart(seriesOf(agg, step, (b) => b.errorRate), {t0, t1, title: 'Error rate', fmt: fmtPct, bars: true, err: true})),
    h('div', {class: 'card'}, lineChart(seriesOf(agg, step, (b) => b.p99Ns), {t0, t1, title: 'Latency p99', fmt: fmtDur})));
}

function cards(agg, seconds) {
  const c = (k, v, cls) => h('div', {class: 'card stat ' + cls}, h('div', {class: 'v'}, v), h('div', {class: 'k'}, k));
  return h('div', {class: 'cards'},
    c('requests', fmtCount(agg.count), 'total-count'),
    c('rate', fmtRate(agg.count / seconds), 'total-rate'),
    c('error rate', fmtPct(agg.errorRate), 'total-err'),
    c('p50', fmtDur(agg.p50Ns), 'total-p50'),
    c('p90', fmtDur(agg.p90Ns), 'total-p90'),
    c('p99', fmtDur(agg.p99Ns), 'total-p99'));
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

  function openOp(op, holder, body) {
    clear(holder).appendChild(charts(op, body));
    holder.appendChild(h('div', {class: 'card', style: {marginTop: '10px'}},
      histogram(op.histogram, {title: `Latency histogram of ${op.count} calls in this window`}),
      h('div', null, h('a', {href: `#/search?service=${encodeURIComponent(p.service)}&operation=${encodeURIComponent(op.operation)}&lookback=${p.lookback || '1h'}&run=1`}, 'Find these traces →'))));
  }

  async function loadStats() {
    if (!p.service) return;
    clear(main).appendChild(loading('Computing statistics…'));
    const lookback = p.lookback || '1h';
    let body;
    try {
      body = await api(paths.stats, {service: p.service, lookback, step: stepOf(lookback)}, {signal: ctl.signal});
    } catch (e) {
      if (e.name !== 'AbortError') clear(main).appendChild(errorBox(e, loadStats));
      return;
    }
    clear(main);
    const seconds = Math.max(1, (body.endTimeUs - body.startTimeUs) / 1e6);
    main.appendChild(h('div', {class: 'results-head'},
      h('h1', {class: 'svc-name'}, p.service),
      h('div', {class: 'quick'}, WINDOWS.map(([v, label]) =>
        h('button', {type: 'button', class: 'ghost' + (v === lookback ? ' on' : ''), on: {click: () => go('services', '', {service: p.service, lookback: v})}}, label))),
      h('span', {class: 'muted'}, body.source === 'store' ? `from ${body.storeRows} per-minute rows` : `${body.scannedTraces} traces examined`)));
    if (!body.total || !body.total.count) {
      main.appendChild(emptyBox(`No spans from ${p.service} in this window.`, 'Pick a longer window.'));
      return;
    }
    main.appendChild(cards(body.total, seconds));
    main.appendChild(charts(body.total, body));
    main.appendChild(h('h2', null, 'Operations'));
    const tbody = h('tbody');
    main.appendChild(h('table', {class: 'grid ops'}, h('thead', null, h('tr', null,
      h('th', null, 'Operation'), h('th', {class: 'num'}, 'Requests'), h('th', {class: 'num'}, 'Rate'), h('th', {class: 'num'}, 'Error rate'),
      h('th', {class: 'num'}, 'p50'), h('th', {class: 'num'}, 'p90'), h('th', {class: 'num'}, 'p99'), h('th', {class: 'num'}, 'Max'), h('th', null, 'Requests over time'))), tbody));
    for (const op of body.operations || []) {
      const detail = h('tr', {class: 'op-detail', hidden: op.operation !== p.op}, h('td', {colspan: 9}));
      const row = h('tr', {class: 'clickable', dataset: {op: op.operation, count: String(op.count), errors: String(op.errors), p99: String(op.p99Ns)},
        tabindex: 0, 'aria-expanded': String(op.operation === p.op)},
        h('td', null, op.operation),
        h('td', {class: 'num c-count'}, fmtCount(op.count)),
        h('td', {class: 'num c-rate'}, fmtRate(op.count / seconds)),
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
        go('services', '', {service: p.service, lookback: p.lookback, op: p.op}, {replace: true});
        if (opening) openOp(op, detail.firstChild, body);
      };
      row.addEventListener('click', toggle);
      row.addEventListener('keydown', (e) => e.key === 'Enter' && toggle());
      tbody.append(row, detail);
      if (op.operation === p.op) openOp(op, detail.firstChild, body);
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

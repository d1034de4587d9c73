// Session view: every trace of one session on one shared timeline, oldest
// first, the slowest step marked; each trace expands in place into its own
// waterfall. Open traces are kept in the URL (#/session/{id}?open=a,b).
import {api, paths} from '../api.js';
import {h, clear, fmtDur, fmtDateTime, fmtTime, loading, errorBox, emptyBox} from '../dom.js';
import {Waterfall} from '../waterfall.js';
import {summaryName, missingMark} from '../names.js';

export function render(root, {arg, params, go}) {
  const id = arg;
  const ctl = new AbortController();
  const page = h('div', {class: 'page-session'});
  root.appendChild(page);
  let open = new Set((params.get('open') || '').split(',').filter(Boolean));
  const views = new Map(); // traceID -> Waterfall

  const save = () => go('session', id, {open: [...open].join(',')}, {replace: true});

  async function expand(t, body, head) {
    clear(body).appendChild(loading('Loading trace…'));
    body.hidden = false;
    head.setAttribute('aria-expanded', 'true');
    head.querySelector('.tog').textContent = '▾';
    let tree;
    try {
      tree = await api(paths.tree(t.traceID), null, {signal: ctl.signal});
    } catch (e) {
      if (e.name !== 'AbortError') clear(body).appendChild(errorBox(e, () => expand(t, body, head)));
      return;
    }
    clear(body);
    const host = h('div', {style: {height: 'calc(100% - 24px)'}});
    const picked = h('div', {class: 'muted', style: {height: '24px', paddingTop: '4px', fontSize: '12px'}}, 'Select a span to see it here; open the trace for its details.');
    body.append(host, picked);
    views.set(t.traceID, new Waterfall(host, tree, {onSelect: (span) => {
      clear(picked);
      if (span)
        picked.append(h('b', null, span.service + ': ' + span.operation), ` · ${fmtDur(span.durationNs)} (self ${fmtDur(span.selfNs)})`,
          span.status === 'error' ? h('span', {class: 'badge err'}, 'error') : null, ' · ',
          h('a', {href: `#/trace/${t.traceID}?span=${span.spanID}`}, 'open in the trace view →'));
    }}));
  }

  function collapse(t, body, head) {
    const v = views.get(t.traceID);
    if (v) v.destroy();
    views.delete(t.traceID);
    clear(body);
    body.hidden = true;
    head.setAttribute('aria-expanded', 'false');
    head.querySelector('.tog').textContent = '▸';
  }

  async function load() {
    clear(page).appendChild(loading('Loading session…'));
    let body;
    try {
      body = await api(paths.session(id), null, {signal: ctl.signal});
    } catch (e) {
      if (e.name !== 'AbortError') clear(page).appendChild(errorBox(e, load));
      return;
    }
    clear(page);
    const traces = body.traces || [];
    page.appendChild(h('h1', null, 'Session ', h('span', {class: 'mono session-id'}, id)));
    if (params.get('notrace'))
      page.appendChild(h('div', {class: 'muted notrace'}, `No trace has the ID ${id}, so it is shown as a session ID.`));
    if (!traces.length) {
      page.appendChild(emptyBox('No traces carry this session ID.', 'Session IDs are matched exactly (session.id, sessionId, session_id… all count).'));
      return;
    }
    const t0 = Math.min(...traces.map((t) => t.startTimeUs));
    const t1 = Math.max(...traces.map((t) => t.startTimeUs + t.durationNs / 1000));
    const span = Math.max(1, t1 - t0);
    const slowest = traces.reduce((a, t) => (t.durationNs > a.durationNs ? t : a), traces[0]);
    const errs = traces.reduce((a, t) => a + t.errorCount, 0);
    page.appendChild(h('div', {class: 'facts muted', style: {marginBottom: '10px'}},
      `${traces.length} trace${traces.length === 1 ? '' : 's'}${body.truncated ? ' (more exist: the oldest are shown)' : ''} from ${fmtDateTime(t0)} to ${fmtTime(t1)} · `,
      `slowest step: `, h('b', null, `${summaryName(slowest).operation} (${fmtDur(slowest.durationNs)})`),
      errs ? h('span', {class: 'badge err'}, `${errs} error${errs > 1 ? 's' : ''}`) : null,
      ' · ', h('a', {href: `#/search?session=${encodeURIComponent(id)}&run=1&lookback=168h`}, 'as a search')));
    // A trace's name (one without a root span: its earliest span's).
    const nameOf = (t, n) => {
      const nm = summaryName(t);
      return [h('span', {class: 'muted'}, `${n + 1}. ${fmtTime(t.startTimeUs)} `), h('b', null, nm.operation),
        h('span', {class: 'muted'}, ' · ' + nm.service), nm.missing ? [' ', missingMark()] : null];
    };
    traces.forEach((t, n) => {
      const nameEl = h('div', {class: 'name'}, nameOf(t, n));
      const tog = h('span', {class: 'tog'}, '▸');
      const bar = h('div', {class: 'sess-bar' + (t.errorCount ? ' err' : ''), style: {
        left: ((t.startTimeUs - t0) / span) * 100 + '%', width: Math.max(0.3, (t.durationNs / 1000 / span) * 100) + '%'}});
      const head = h('div', {class: 'sess-head', role: 'button', tabindex: 0, 'aria-expanded': 'false'},
        tog,
        nameEl,
        h('div', {class: 'sess-track', title: `${fmtDur(t.durationNs)}, ${t.spanCount} spans`}, bar),
        h('div', {class: 'num', style: {textAlign: 'right'}}, fmtDur(t.durationNs),
          t.errorCount ? h('span', {class: 'badge err'}, String(t.errorCount)) : null));
      const body2 = h('div', {class: 'sess-body', hidden: true});
      const row = h('div', {class: 'sess-row' + (t === slowest && traces.length > 1 ? ' slowest' : ''), dataset: {trace: t.traceID}},
        head, body2,
        h('div', {class: 'muted', style: {padding: '0 8px 6px 44px', fontSize: '12px'}},
          `${t.spanCount} spans · ${t.services.join(', ')} · `, h('a', {href: '#/trace/' + t.traceID}, 'open trace'),
          t === slowest && traces.length > 1 ? h('span', {class: 'badge warn'}, 'slowest') : null));
      const toggle = () => {
        if (open.has(t.traceID)) {
          open.delete(t.traceID);
          collapse(t, body2, head);
        } else {
          open.add(t.traceID);
          expand(t, body2, head);
        }
        save();
      };
      head.addEventListener('click', toggle);
      head.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          toggle();
        }
      });
      page.appendChild(row);
      if (open.has(t.traceID)) expand(t, body2, head);
    });
    page.dataset.ready = '1';
  }
  load();
  return {
    destroy() {
      ctl.abort();
      for (const v of views.values()) v.destroy();
    },
  };
}

// Trace view: the call tree as a waterfall (waterfall.js) with the trace's
// facts, a text filter, collapse controls, the critical path and a details
// panel for the selected span. The selection, filter, collapsed spans and
// zoom live in the URL (#/trace/{id}?span=&q=&c=&from=&to=&crit=0).
import {api, paths} from '../api.js';
import {h, clear, fmtDur, fmtDateTime, fmtTime, loading, errorBox, emptyBox, serviceColour} from '../dom.js';
import {Waterfall} from '../waterfall.js';
import {treeRoot, missingMark, MISSING_ROOT} from '../names.js';

function kvTable(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('div', {class: 'muted'}, 'none');
  return h('table', {class: 'kv'}, h('tbody', null, entries.map(([k, v]) =>
    h('tr', null, h('td', null, k), h('td', null, typeof v === 'string' ? v : JSON.stringify(v))))));
}

export function spanDetail(span, tree, go) {
  const startUs = tree.startTimeUs + span.offsetNs / 1000;
  const box = h('div', {class: 'detail', 'aria-label': 'Span details'},
    h('h2', null, h('span', {class: 'dot', style: {background: serviceColour(span.service)}}), span.operation),
    h('div', {class: 'muted'}, span.service, span.kind ? ` · ${span.kind}` : ''),
    h('table', {class: 'kv'}, h('tbody', null,
      h('tr', null, h('td', null, 'span ID'), h('td', null, span.spanID)),
      h('tr', null, h('td', null, 'parent'), h('td', null, span.parentSpanID || '(root)')),
      h('tr', null, h('td', null, 'start'), h('td', null, `${fmtTime(startUs)} (+${fmtDur(span.offsetNs)})`)),
      h('tr', null, h('td', null, 'duration'), h('td', {class: 'dur'}, fmtDur(span.durationNs))),
      h('tr', null, h('td', null, 'self time'), h('td', {class: 'self'}, fmtDur(span.selfNs))),
      h('tr', null, h('td', null, 'critical path'), h('td', null, span.critical ? `yes, ${fmtDur(span.criticalNs)} of its own time` : 'no')),
      h('tr', null, h('td', null, 'status'), h('td', {class: 'status'}, span.status)),
      span.scopeName ? h('tr', null, h('td', null, 'scope'), h('td', {class: 'scope'}, span.scopeName + (span.scopeVersion ? ' ' + span.scopeVersion : ''))) : null,
      span.session ? h('tr', null, h('td', null, 'session'), h('td', null,
        h('a', {href: '#/session/' + encodeURIComponent(span.session)}, span.session))) : null)));
  if (span.status === 'error')
    box.appendChild(h('div', {class: 'errline'}, 'Error' + (span.statusMessage ? ': ' : ''), span.statusMessage || ''));
  else if (span.statusMessage) box.appendChild(h('div', {class: 'muted'}, span.statusMessage));
  if (span.missingParent)
    box.appendChild(h('div', {class: 'warnline'}, `Parent span ${span.parentSpanID} never arrived: this span is shown as a root of its own subtree.`));
  if (span.skewNs)
    box.appendChild(h('div', {class: 'warnline'}, `Clock skew adjusted: shifted by ${fmtDur(span.skewNs)} to fit inside its parent (its host's clock differs).`));
  box.appendChild(h('h3', null, 'Attributes'));
  box.appendChild(kvTable(span.attributes));
  box.appendChild(h('h3', null, 'Resource'));
  box.appendChild(kvTable(span.resource));
  box.appendChild(h('h3', null, `Events (${(span.events || []).length})`));
  if (!(span.events || []).length) box.appendChild(h('div', {class: 'muted'}, 'none'));
  for (const e of span.events || [])
    box.appendChild(h('div', {class: 'event'},
      h('div', null, h('b', null, e.name), ' ', h('span', {class: 'muted'}, '+' + fmtDur((e.timeUs - tree.startTimeUs) * 1000 - span.offsetNs) + ' into the span')),
      Object.keys(e.attributes || {}).length ? kvTable(e.attributes) : null));
  const links = span.links || [];
  box.appendChild(h('h3', null, `Links (${links.length})`));
  if (!links.length) box.appendChild(h('div', {class: 'muted'}, 'none'));
  for (const l of links)
    box.appendChild(h('div', {class: 'link'},
      h('a', {href: `#/trace/${encodeURIComponent(l.traceID)}?span=${encodeURIComponent(l.spanID)}`, class: 'mono'},
        `trace ${l.traceID.slice(0, 16)}… span ${l.spanID}`),
      l.traceState ? h('div', {class: 'muted'}, 'trace state ', l.traceState) : null,
      Object.keys(l.attributes || {}).length ? kvTable(l.attributes) : null));
  return box;
}

const rootOf = (tree) => treeRoot(tree).span;

function facts(tree) {
  const {span: root, missing} = treeRoot(tree);
  const services = new Set(tree.spans.map((s) => s.service));
  const errors = tree.spans.reduce((a, s) => a + (s.status === 'error' ? 1 : 0), 0);
  const f = (k, v, cls) => h('span', {class: cls}, k + ' ', h('b', null, v));
  return h('div', {class: 'trace-head'},
    h('h1', null, root ? `${root.service}: ${root.operation}` : 'Trace', missing ? [' ', missingMark()] : null),
    h('div', {class: 'facts'},
      f('trace', tree.traceID, 'mono'),
      f('start', fmtDateTime(tree.startTimeUs)),
      f('duration', fmtDur(tree.durationNs), 'fact-duration'),
      f('spans', String(tree.spanCount), 'fact-spans'),
      f('services', String(services.size)),
      f('depth', String(tree.maxDepth + 1)),
      errors ? h('span', {class: 'badge err'}, `${errors} error${errors > 1 ? 's' : ''}`) : null,
      tree.missingParents ? h('span', {class: 'badge warn', title: 'spans whose parent span never arrived'}, `${tree.missingParents} missing parent${tree.missingParents > 1 ? 's' : ''}`) : null,
      tree.skewAdjusted ? h('span', {class: 'badge warn', title: 'spans shifted to correct clock skew between hosts'}, `${tree.skewAdjusted} skew-adjusted`) : null));
}

export function render(root, {arg, params, go, redirect, jumped}) {
  const id = arg;
  const page = h('div', {class: 'page-trace'});
  root.appendChild(page);
  const ctl = new AbortController();
  let wf = null, tree = null, detailHost = null, layout = null;
  let p = Object.fromEntries(params);

  const saveState = (st) => {
    const next = {span: st.selected, q: st.filter, c: st.collapsed.join(','), from: st.from, to: st.to, crit: st.critical ? '' : '0'};
    p = next;
    go('trace', id, next, {replace: true});
  };

  const showDetail = (span) => {
    clear(detailHost);
    layout.classList.toggle('with-detail', !!span);
    if (span) detailHost.appendChild(spanDetail(span, tree, go));
  };

  async function load() {
    clear(page).appendChild(loading('Loading trace…'));
    try {
      tree = await api(paths.tree(id), null, {signal: ctl.signal});
    } catch (e) {
      if (e.name === 'AbortError') return;
      // Typed into the top bar and no such trace: it may be a session ID
      // that happens to look like a trace ID.
      if (e.status === 404 && jumped && redirect) {
        redirect('session', id, {notrace: '1'});
        return;
      }
      clear(page).appendChild(errorBox(e, load));
      return;
    }
    clear(page);
    if (!tree.spans || !tree.spans.length) {
      page.appendChild(emptyBox('This trace has no spans.'));
      return;
    }
    page.appendChild(facts(tree));
    const named = treeRoot(tree);
    document.title = `${named.span.service}: ${named.span.operation}${named.missing ? ' ' + MISSING_ROOT : ''} · Callscope`;
    const filter = h('input', {type: 'search', placeholder: 'Filter spans: service, operation, attribute…', value: p.q || '', 'aria-label': 'Filter spans'});
    const count = h('span', {class: 'muted match-count'});
    const crit = h('input', {type: 'checkbox', checked: p.crit !== '0', id: 'crit'});
    const toolbar = h('div', {class: 'toolbar'}, filter, count,
      h('button', {type: 'button', class: 'ghost', on: {click: () => wf.expandAll()}}, 'Expand all'),
      h('button', {type: 'button', class: 'ghost', on: {click: () => wf.collapseFrom(1)}}, 'Collapse to depth 1'),
      h('button', {type: 'button', class: 'ghost', on: {click: () => wf.setZoom(0, wf.total)}}, 'Reset zoom'),
      h('label', null, crit, ' Critical path'),
      h('a', {class: 'compare-with', href: `#/compare?a=${encodeURIComponent(id)}&service=${encodeURIComponent(rootOf(tree).service)}&operation=${encodeURIComponent(rootOf(tree).operation)}`}, 'Compare with…'),
      h('a', {href: paths.trace(id), target: '_blank', rel: 'noopener'}, 'JSON'),
      h('span', {class: 'muted', title: 'Keyboard: ↑/↓ move, ← collapse or go to parent, → expand, Enter toggle, Esc deselect'}, '⌨ ↑↓←→'));
    page.appendChild(toolbar);
    const wfHost = h('div', {style: {minHeight: '0', height: '100%'}});
    detailHost = h('div', {style: {minHeight: '0', height: '100%', display: 'flex', flexDirection: 'column'}});
    layout = h('div', {class: 'trace-layout'}, wfHost, detailHost);
    page.appendChild(layout);
    const showCount = () => (count.textContent = wf.filterText.trim() ? `${wf.matchCount} matching span${wf.matchCount === 1 ? '' : 's'}` : '');
    wf = new Waterfall(wfHost, tree, {
      selected: p.span, collapsed: p.c ? p.c.split(',') : [], filter: p.q,
      from: p.from !== undefined ? Number(p.from) : undefined, to: p.to !== undefined ? Number(p.to) : undefined,
      critical: p.crit !== '0', onSelect: showDetail, onState: saveState,
    });
    showCount();
    if (wf.sel >= 0) showDetail(wf.spans[wf.sel]);
    let t = null;
    filter.addEventListener('input', () => {
      clearTimeout(t);
      t = setTimeout(() => {
        wf.setFilter(filter.value);
        showCount();
      }, tree.spanCount > 5000 ? 200 : 60);
    });
    filter.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        wf.nextMatch();
      }
    });
    crit.addEventListener('change', () => wf.setCritical(crit.checked));
    page.dataset.ready = '1';
    if (!p.span) wf.body.focus({preventScroll: true});
  }
  load();
  return {
    update(params2) {
      const q = Object.fromEntries(params2);
      if (!wf) return;
      if ((q.q || '') !== wf.filterText) wf.setFilter(q.q || '', false);
      if ((q.c || '') !== wf.state().collapsed.join(',')) wf.setCollapsed(q.c ? q.c.split(',') : []);
      const from = q.from !== undefined ? Number(q.from) : 0, to = q.to !== undefined ? Number(q.to) : wf.total;
      if (from !== wf.from || to !== wf.to) wf.setZoom(from, to, false);
      if (q.span && (wf.sel < 0 || wf.spans[wf.sel].spanID !== q.span)) wf.selectId(q.span);
      else if (!q.span && wf.sel >= 0) wf.select(-1);
      p = q;
    },
    destroy() {
      ctl.abort();
      if (wf) wf.destroy();
    },
  };
}

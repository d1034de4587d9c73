// What a trace is called in titles and lists: its root span's "service:
// operation". A trace whose root span never arrived has an empty root in
// its summary; it is named after its earliest span instead, always with a
// "(missing root)" mark, so it never shows as a bare ":".
import {api, paths} from './api.js';
import {h} from './dom.js';

export const MISSING_ROOT = '(missing root)';

// {span, missing}: the root span (no parent at all), else the earliest span.
export function treeRoot(tree) {
  let root = null, first = null;
  for (const s of tree.spans || []) {
    if (!root && s.parentSpanID === null && !s.missingParent) root = s;
    if (!first || s.offsetNs < first.offsetNs) first = s;
  }
  return root ? {span: root, missing: false} : {span: first, missing: true};
}

// Earliest spans of rootless traces, by trace ID, once fetched (null: the
// lookup failed).
const earliest = new Map();
const CACHE_MAX = 500;
// Rootless traces looked up per list, and the largest fetched whole.
const LOOKUPS = 10, MAX_SPANS = 5000;

const hasRoot = (t) => !!(t.rootService || t.rootOperation);

// {service, operation, missing}: operation '…' until the lookup is done.
export function summaryName(t) {
  if (hasRoot(t)) return {service: t.rootService, operation: t.rootOperation, missing: false};
  const e = earliest.get(t.traceID);
  if (e) return {service: e.service, operation: e.operation, missing: true};
  return {service: (t.services && t.services[0]) || '?', operation: '…', missing: true};
}

export function missingMark() {
  return h('span', {class: 'missing-root', title: 'The root span of this trace never arrived: it is named after its earliest span.'}, MISSING_ROOT);
}

// Plain text (tooltips, headings): "svc: op" or "svc: op (missing root)".
export function summaryText(t) {
  const n = summaryName(t);
  return `${n.service}: ${n.operation}` + (n.missing ? ' ' + MISSING_ROOT : '');
}

// The same as nodes, the mark styled apart.
export function summaryNodes(t) {
  const n = summaryName(t);
  return n.missing ? [`${n.service}: ${n.operation} `, missingMark()] : [`${n.service}: ${n.operation}`];
}

// Fetches the earliest span of up to LOOKUPS rootless traces of a list;
// calls done() once if any name became known. Errors leave the placeholder.
export async function resolveRootless(summaries, signal, done) {
  const todo = summaries.filter((t) => !hasRoot(t) && !earliest.has(t.traceID) && t.spanCount <= MAX_SPANS).slice(0, LOOKUPS);
  if (!todo.length) return;
  let found = 0;
  await Promise.all(todo.map(async (t) => {
    try {
      const tree = await api(paths.tree(t.traceID), null, {signal});
      const r = treeRoot(tree);
      if (!r.span) return;
      if (earliest.size >= CACHE_MAX) earliest.delete(earliest.keys().next().value);
      earliest.set(t.traceID, {service: r.span.service, operation: r.span.operation});
      found++;
    } catch (e) {
      // The placeholder name stays; not asked again unless aborted.
      if (e.name !== 'AbortError') earliest.set(t.traceID, null);
    }
  }));
  if (found && !(signal && signal.aborted)) done();
}

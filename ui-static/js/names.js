// What a trace is called in titles and lists: its root span's "service:
// operation". A trace whose root span never arrived has an empty root in
// its summary; it is named after its earliest span instead (the summary's
// firstService/firstOperation), always with a "(missing root)" mark, so it
// never shows as a bare ":".
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

const hasRoot = (t) => !!(t.rootService || t.rootOperation);

// {service, operation, missing}. Summaries stored before the store kept the
// earliest span have no firstService: the first service then stands in.
export function summaryName(t) {
  if (hasRoot(t)) return {service: t.rootService, operation: t.rootOperation, missing: false};
  if (t.firstService || t.firstOperation) return {service: t.firstService, operation: t.firstOperation, missing: true};
  return {service: (t.services && t.services[0]) || '?', operation: '?', missing: true};
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

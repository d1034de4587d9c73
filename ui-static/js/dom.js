// DOM and formatting helpers shared by every view. Text from spans only
// ever reaches the page through text nodes and attribute values set here,
// never through HTML parsing, so span data cannot inject markup or script.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(node, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.setAttribute('class', v);
    else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === 'text') node.textContent = String(v);
    else if (k.startsWith('on')) throw new Error('use the on: {} property for events');
    else if (k in node && !(node instanceof SVGElement)) node[k] = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

// h('div', {class: 'x'}, 'text', child...): strings become text nodes.
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  apply(node, props);
  append(node, children);
  return node;
}

export function s(tag, props, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, props);
  append(node, children);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function fmtDur(ns) {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '–';
  const a = Math.abs(ns);
  if (a === 0) return '0';
  if (a >= 60e9) return (ns / 60e9).toFixed(a >= 600e9 ? 0 : 1) + ' min';
  if (a >= 1e9) return (ns / 1e9).toFixed(a >= 10e9 ? 1 : 2) + ' s';
  if (a >= 1e6) return (ns / 1e6).toFixed(a >= 100e6 ? 0 : a >= 10e6 ? 1 : 2) + ' ms';
  if (a >= 1e3) return (ns / 1e3).toFixed(a >= 100e3 ? 0 : 1) + ' µs';
  return Math.round(ns) + ' ns';
}

function pad(n, w = 2) { return String(n).padStart(w, '0'); }

export function fmtTime(us) {
  const d = new Date(us / 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtDateTime(us) {
  const d = new Date(us / 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(us)}`;
}

export function fmtPct(rate) {
  if (!rate) return '0%';
  const p = rate * 100;
  return (p >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%';
}

export function fmtRate(perSec) {
  if (perSec >= 100) return perSec.toFixed(0) + '/s';
  if (perSec >= 1) return perSec.toFixed(2) + '/s';
  return (perSec * 60).toFixed(2) + '/min';
}

export function fmtCount(n) { return Number(n).toLocaleString('en-US'); }

// Service colours. Red means "error" everywhere in the UI, so no service
// gets a red, pink or red-orange: the palette is seven hues from amber
// round to violet (OKLCH hues 75-300, equal lightness so none stands out),
// then the same hues darker. A name's hash picks its preferred hue; a hue
// already taken by another service moves it to the next free one, so the
// few services of one trace get different colours. app.js registers the
// sorted service list before the first page, which makes the assignment
// the same on every page and after every reload (for the same services).
const PALETTE = [
  '#c38824', '#939e33', '#52ab69', '#00aea7', '#14a3d5', '#6e92e5', '#a281d9', // L 0.67, C 0.13
  '#8d5e00', '#677014', '#317a45', '#007c77', '#00739c', '#4966a8', '#73599e', // L 0.52, C 0.11
];
const HUES = 7;
const colourCache = new Map();
const taken = new Set();

function nameHash(name) {
  let x = 2166136261;
  for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 16777619);
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  return x >>> 0;
}

export function serviceColour(name) {
  let c = colourCache.get(name);
  if (c) return c;
  const pref = nameHash(name) % HUES;
  let slot = pref;
  for (let k = 0; k < PALETTE.length; k++) {
    const cand = (k < HUES ? 0 : HUES) + ((pref + k) % HUES);
    if (!taken.has(cand)) {
      slot = cand;
      break;
    }
  }
  taken.add(slot);
  c = PALETTE[slot];
  colourCache.set(name, c);
  return c;
}

// Assigns colours to a whole service list in name order (see above).
export function registerServices(names) {
  for (const n of [...names].sort()) serviceColour(n);
}

export function loading(text = 'Loading…') {
  return h('div', {class: 'loading', role: 'status'}, h('span', {class: 'spinner'}), text);
}

export function errorBox(err, retry) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', {class: 'error-box', role: 'alert'},
    h('strong', null, err && err.status ? `Error ${err.status}: ` : 'Error: '), msg,
    retry ? h('button', {type: 'button', class: 'ghost', on: {click: retry}}, 'Retry') : null);
}

export function emptyBox(text, hint) {
  return h('div', {class: 'empty-box'}, h('strong', null, text), hint ? h('div', {class: 'muted'}, hint) : null);
}

export function shortId(id) { return id ? id.slice(0, 8) : ''; }

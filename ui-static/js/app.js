// The shell: hash routing (#/page/arg?params), navigation, the theme switch
// and the "open by ID" box. Each view module exports
// render(root, ctx) -> optional {update(params), destroy()}.
import {h, clear, errorBox, registerServices} from './dom.js';
import {api, paths} from './api.js';

const pages = {
  search: () => import('./pages/search.js'),
  trace: () => import('./pages/trace.js'),
  session: () => import('./pages/session.js'),
  services: () => import('./pages/services.js'),
  deps: () => import('./pages/deps.js'),
  compare: () => import('./pages/compare.js'),
};

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const params = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
  const slash = path.indexOf('/');
  const page = (slash >= 0 ? path.slice(0, slash) : path) || 'search';
  const arg = slash >= 0 ? decodeURIComponent(path.slice(slash + 1)) : '';
  return {page, arg, params};
}

export function makeHash(page, arg, params) {
  let s = '#/' + page;
  if (arg) s += '/' + encodeURIComponent(arg);
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v)) v.forEach((x) => x !== '' && q.append(k, x));
    else q.append(k, v);
  }
  const qs = q.toString();
  return qs ? s + '?' + qs : s;
}

// Changes the URL: push makes a history entry (and re-routes), replace
// only records state the view already shows.
export function go(page, arg, params, {replace = false} = {}) {
  const hash = makeHash(page, arg, params);
  if (replace) {
    history.replaceState(null, '', hash);
  } else if (hash !== location.hash) {
    location.hash = hash;
  } else {
    route();
  }
}

let current = null; // {page, arg, inst}
let seq = 0;
let jumpedTo = ''; // the trace ID just typed into the top bar's box

// Replaces the current history entry and shows it (a page's redirect).
function redirect(page, arg, params) {
  history.replaceState(null, '', makeHash(page, arg, params));
  route();
}

async function route() {
  const r = parseHash();
  const my = ++seq;
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', a.dataset.page === r.page);
  if (current && current.page === r.page && current.arg === r.arg && current.inst && current.inst.update) {
    current.inst.update(r.params);
    return;
  }
  if (current && current.inst && current.inst.destroy) current.inst.destroy();
  current = null;
  const root = clear(document.getElementById('view'));
  const loader = pages[r.page];
  if (!loader) {
    root.appendChild(errorBox(new Error(`unknown page "${r.page}"`)));
    return;
  }
  let mod;
  try {
    mod = await loader();
  } catch (e) {
    root.appendChild(errorBox(e));
    return;
  }
  if (my !== seq) return;
  const jumped = r.page === 'trace' && r.arg === jumpedTo;
  jumpedTo = '';
  const inst = mod.render(root, {arg: r.arg, params: r.params, go, redirect, jumped}) || null;
  current = {page: r.page, arg: r.arg, inst};
  document.title = `Callscope · ${r.page}${r.arg ? ' ' + r.arg.slice(0, 16) : ''}`;
}

function initTheme() {
  const btn = document.getElementById('theme');
  const names = {auto: 'follows the system', light: 'light', dark: 'dark'};
  let mode = localStorage.getItem('callscope.theme') || 'auto';
  const apply = () => {
    if (mode === 'auto') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.setAttribute('data-theme', mode);
    btn.title = 'Theme: ' + names[mode];
    btn.textContent = mode === 'auto' ? '◐' : mode === 'light' ? '☀' : '☾';
  };
  btn.addEventListener('click', () => {
    mode = mode === 'auto' ? 'light' : mode === 'light' ? 'dark' : 'auto';
    localStorage.setItem('callscope.theme', mode);
    apply();
    window.dispatchEvent(new Event('themechange'));
  });
  apply();
}

function initJump() {
  const form = document.getElementById('jump');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = document.getElementById('jump-id').value.trim();
    if (!v) return;
    // Only a full-length ID (32 hex digits, or Zipkin's 16) is taken for a
    // trace; anything else (a session "12345" is also hex) is a session.
    // The trace page falls back to the session when no such trace exists.
    if (/^([0-9a-fA-F]{16}|[0-9a-fA-F]{32})$/.test(v)) {
      jumpedTo = v.toLowerCase();
      go('trace', jumpedTo, {});
    } else {
      go('session', v, {});
    }
  });
}

// Service colours are assigned over the sorted service list, so every
// page agrees on them; a slow or failing server only delays the first page
// by at most a second (colours then follow the order services are drawn).
async function initColours() {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), 1000);
  try {
    const body = await api(paths.services, null, {signal: ctl.signal});
    registerServices((body.services || []).map((x) => x.name));
  } catch (e) {
    // the pages show the error themselves when they need the list
  } finally {
    clearTimeout(t);
  }
}

window.addEventListener('hashchange', route);
initTheme();
initJump();
initColours().then(() => seq || route());

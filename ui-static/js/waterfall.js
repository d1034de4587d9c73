// The waterfall timeline of a call tree (the /api/v1/traces/{id}/tree
// shape: spans in pre-order with depth). Only the rows inside the scrolled
// viewport exist in the DOM, so a 50,000-span trace costs the same to draw
// as a 50-span one; everything else (subtree ranges, filter matches, the
// minimap) is computed over flat typed arrays in one pass each.
import {h, clear, fmtDur, serviceColour} from './dom.js';

const ROW_H = 24;
const OVERSCAN = 12;

export class Waterfall {
  // opts: selected, collapsed (span IDs), filter, from, to (ns offsets of the
  // zoom window), critical (bool), onSelect(span|null), onState(state).
  constructor(host, tree, opts = {}) {
    this.host = host;
    this.tree = tree;
    this.spans = tree.spans;
    this.opts = opts;
    this.total = Math.max(1, tree.durationNs);
    this.from = 0;
    this.to = this.total;
    this.critical = opts.critical !== false;
    this.prepare();
    this.collapsed = new Uint8Array(this.n);
    for (const id of opts.collapsed || []) {
      const i = this.byId.get(id);
      if (i !== undefined) this.collapsed[i] = 1;
    }
    this.sel = -1;
    this.filterText = '';
    this.keep = null;
    this.match = null;
    this.build();
    if (opts.from !== undefined && opts.to !== undefined && opts.to > opts.from) this.setZoom(opts.from, opts.to, false);
    if (opts.filter) this.setFilter(opts.filter, false);
    else this.recompute();
    if (opts.selected && this.byId.has(opts.selected)) this.select(this.byId.get(opts.selected), {notify: false, reveal: true});
    this.render();
    this.drawMinimap();
  }

  // Parent index and the end of each subtree, from the pre-order depths.
  prepare() {
    const sp = this.spans;
    const n = (this.n = sp.length);
    this.parent = new Int32Array(n);
    this.end = new Int32Array(n);
    this.byId = new Map();
    const stack = [];
    for (let i = 0; i < n; i++) {
      const d = sp[i].depth;
      while (stack.length && sp[stack[stack.length - 1]].depth >= d) this.end[stack.pop()] = i;
      this.parent[i] = d > 0 && stack.length ? stack[stack.length - 1] : -1;
      stack.push(i);
      this.byId.set(sp[i].spanID, i);
    }
    while (stack.length) this.end[stack.pop()] = n;
    this.visible = new Int32Array(n);
    this.count = 0;
  }

  hasChildren(i) { return this.end[i] > i + 1; }

  build() {
    const root = clear(this.host);
    this.mini = h('div', {class: 'wf-mini', title: 'Drag to zoom into a time range; double-click to reset'});
    this.canvas = h('canvas');
    this.win = h('div', {class: 'win'});
    this.mini.append(this.canvas, this.win);
    this.ticks = h('div', {class: 'ticks'});
    this.axis = h('div', {class: 'wf-axis'}, h('div', {class: 'lab'}, 'Service · operation'), this.ticks);
    this.spacer = h('div', {class: 'wf-spacer'});
    this.body = h('div', {class: 'wf-body', tabindex: 0, role: 'tree', 'aria-label': 'Call tree'}, this.spacer);
    this.el = h('div', {class: 'wf'}, this.mini, this.axis, this.body);
    root.appendChild(this.el);
    let pending = false;
    this.onScroll = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        this.render();
      });
    };
    this.body.addEventListener('scroll', this.onScroll, {passive: true});
    this.body.addEventListener('keydown', (e) => this.onKey(e));
    this.body.addEventListener('click', (e) => this.onClick(e));
    this.bindMinimap();
    this.ro = new ResizeObserver(() => {
      this.render();
      this.drawMinimap();
    });
    this.ro.observe(this.body);
    this.onTheme = () => this.drawMinimap();
    window.addEventListener('themechange', this.onTheme);
  }

  destroy() {
    this.ro.disconnect();
    window.removeEventListener('themechange', this.onTheme);
    window.removeEventListener('mousemove', this.onMove);
    window.removeEventListener('mouseup', this.onUp);
  }

  spanText(i) {
    const s = this.spans[i];
    if (s._text === undefined) {
      const parts = [s.service, s.operation, s.spanID, s.statusMessage || ''];
      for (const [k, v] of Object.entries(s.attributes || {})) parts.push(k, String(v));
      for (const [k, v] of Object.entries(s.resource || {})) parts.push(k, String(v));
      for (const e of s.events || []) parts.push(e.name);
      s._text = parts.join('\u0000').toLowerCase();
    }
    return s._text;
  }

  setFilter(text, notify = true) {
    this.filterText = text;
    const q = text.trim().toLowerCase();
    if (!q) {
      this.keep = this.match = null;
      this.matchCount = 0;
    } else {
      const n = this.n;
      this.match = new Uint8Array(n);
      this.keep = new Uint8Array(n);
      let c = 0;
      for (let i = n - 1; i >= 0; i--) {
        if (this.spanText(i).includes(q)) {
          this.match[i] = 1;
          this.keep[i] = 1;
          c++;
        }
        if (this.keep[i] && this.parent[i] >= 0) this.keep[this.parent[i]] = 1;
      }
      this.matchCount = c;
    }
    this.recompute();
    this.render();
    if (notify) this.emit();
  }

  // The rows shown: pre-order, skipping collapsed subtrees and, with a
  // filter, spans that neither match nor lead to a match.
  recompute() {
    const keep = this.keep;
    let c = 0;
    for (let i = 0; i < this.n; ) {
      if (keep && !keep[i]) {
        i = this.end[i];
        continue;
      }
      this.visible[c++] = i;
      i = this.collapsed[i] ? this.end[i] : i + 1;
    }
    this.count = c;
    this.rowOf = null;
    this.spacer.style.height = c * ROW_H + 'px';
  }

  rowIndex(i) {
    if (!this.rowOf) {
      this.rowOf = new Int32Array(this.n).fill(-1);
      for (let k = 0; k < this.count; k++) this.rowOf[this.visible[k]] = k;
    }
    return this.rowOf[i];
  }

  x(ns) { return ((ns - this.from) / (this.to - this.from)) * 100; }

  render() {
    const top = this.body.scrollTop;
    const hgt = this.body.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(this.count, Math.ceil((top + hgt) / ROW_H) + OVERSCAN);
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k++) frag.appendChild(this.row(k, this.visible[k]));
    clear(this.spacer).appendChild(frag);
    if (!this.count)
      this.spacer.appendChild(h('div', {class: 'wf-empty'}, this.filterText ? `No span matches "${this.filterText}".` : 'No spans.'));
    this.drawAxis();
  }

  row(k, i) {
    const s = this.spans[i];
    const kids = this.hasChildren(i);
    const cls = ['wf-row'];
    if (i === this.sel) cls.push('sel');
    if (s.critical) cls.push('crit');
    if (!this.critical) cls.push('hide-crit');
    if (this.match) cls.push(this.match[i] ? 'match' : 'context');
    const err = s.status === 'error';
    const label = h('div', {class: 'wf-label', style: {paddingLeft: Math.min(s.depth, 40) * 14 + 'px'}},
      h('span', {class: 'tog'}, kids ? (this.collapsed[i] ? '▸' : '▾') : ''),
      h('span', {class: 'dot', style: {background: serviceColour(s.service)}}),
      h('span', {class: 'svc'}, s.service),
      h('span', {class: 'op'}, s.operation),
      kids && this.collapsed[i] ? h('span', {class: 'cnt'}, `(${this.end[i] - i - 1})`) : null,
      err ? h('span', {class: 'mark err', title: s.statusMessage || 'error'}, '⚠') : null,
      s.missingParent ? h('span', {class: 'mark warn', title: `parent span ${s.parentSpanID} is not in the trace`}, '⛓ no parent') : null,
      s.skewNs ? h('span', {class: 'mark warn', title: `clock skew: shifted by ${fmtDur(s.skewNs)}`}, '⇆') : null);
    const track = h('div', {class: 'wf-track'});
    const l = this.x(s.offsetNs);
    const r = this.x(s.offsetNs + s.durationNs);
    if (r >= 0 && l <= 100) {
      const bar = h('div', {class: 'wf-bar' + (err ? ' err' : '') + (s.critical ? ' crit' : ''), title: err ? 'error' + (s.statusMessage ? ': ' + s.statusMessage : '') : undefined,
        style: {left: Math.max(l, 0) + '%', width: Math.max(Math.min(r, 100) - Math.max(l, 0), 0.05) + '%',
          backgroundColor: err ? 'var(--err)' : serviceColour(s.service)}}); // (the colour only: keeps the hatching of .err)
      track.appendChild(bar);
      for (const e of s.events || []) {
        const ex = this.x((e.timeUs - this.tree.startTimeUs) * 1000);
        if (ex >= 0 && ex <= 100) track.appendChild(h('div', {class: 'wf-ev', title: e.name, style: {left: ex + '%'}}));
      }
      // Errors carry a mark beside the bar too, not only the red hatching.
      const dur = h('span', {class: 'wf-dur' + (err ? ' err' : '')}, err ? '⚠ ' + fmtDur(s.durationNs) : fmtDur(s.durationNs));
      // Beside the bar when there is room, else inside its right end.
      if (r < 85) dur.style.left = `calc(${Math.max(r, 0)}% + 4px)`;
      else if (l > 15) dur.style.right = `calc(${100 - l}% + 4px)`;
      else (dur.style.right = `calc(${100 - Math.min(r, 100)}% + 4px)`), dur.classList.add('in');
      track.appendChild(dur);
    }
    const row = h('div', {class: cls.join(' '), role: 'treeitem', style: {top: k * ROW_H + 'px'},
      dataset: {i: String(i), span: s.spanID}, 'aria-level': s.depth + 1,
      'aria-expanded': kids ? String(!this.collapsed[i]) : undefined, 'aria-selected': String(i === this.sel)}, label, track);
    return row;
  }

  drawAxis() {
    clear(this.ticks);
    for (let t = 0; t <= 4; t++) {
      const ns = this.from + ((this.to - this.from) * t) / 4;
      const tick = h('span', {class: 'tick', style: t === 4 ? {right: '4px'} : {left: t * 25 + '%'}}, fmtDur(ns));
      this.ticks.appendChild(tick);
    }
  }

  drawMinimap() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.floor(this.mini.clientWidth * dpr));
    const H = Math.max(1, Math.floor(this.mini.clientHeight * dpr));
    c.width = W;
    c.height = H;
    const g = c.getContext('2d');
    g.clearRect(0, 0, W, H);
    const n = this.n;
    // Short traces keep thin rows at the top instead of giant stripes.
    const rowH = Math.max(1, Math.min(4 * dpr, H / n));
    let last = '';
    for (let i = 0; i < n; i++) {
      const s = this.spans[i];
      const col = s.status === 'error' ? '#d92d2d' : serviceColour(s.service);
      if (col !== last) {
        g.fillStyle = col;
        last = col;
      }
      g.fillRect((s.offsetNs / this.total) * W, rowH * n < H ? i * rowH : (i / n) * H, Math.max(1, (s.durationNs / this.total) * W), rowH);
    }
    this.placeWindow();
  }

  placeWindow() {
    const full = this.from <= 0 && this.to >= this.total;
    this.win.style.display = full ? 'none' : 'block';
    this.win.style.left = (this.from / this.total) * 100 + '%';
    this.win.style.width = ((this.to - this.from) / this.total) * 100 + '%';
  }

  bindMinimap() {
    let x0 = null;
    const frac = (e) => {
      const r = this.mini.getBoundingClientRect();
      return Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    };
    this.mini.addEventListener('mousedown', (e) => {
      x0 = frac(e);
      e.preventDefault();
    });
    window.addEventListener('mousemove', (this.onMove = (e) => {
      if (x0 === null) return;
      const x1 = frac(e);
      this.win.style.display = 'block';
      this.win.style.left = Math.min(x0, x1) * 100 + '%';
      this.win.style.width = Math.abs(x1 - x0) * 100 + '%';
    }));
    window.addEventListener('mouseup', (this.onUp = (e) => {
      if (x0 === null) return;
      const x1 = frac(e);
      const a = Math.min(x0, x1), b = Math.max(x0, x1);
      x0 = null;
      if (b - a < 0.005) {
        this.placeWindow();
        return;
      }
      this.setZoom(a * this.total, b * this.total);
    }));
    this.mini.addEventListener('dblclick', () => this.setZoom(0, this.total));
  }

  setZoom(from, to, notify = true) {
    this.from = Math.max(0, Math.round(from));
    this.to = Math.min(this.total, Math.round(to));
    if (this.to <= this.from) {
      this.from = 0;
      this.to = this.total;
    }
    this.placeWindow();
    this.render();
    if (notify) this.emit();
  }

  zoomed() { return this.from > 0 || this.to < this.total; }

  toggle(i, want) {
    if (!this.hasChildren(i)) return;
    const v = want === undefined ? !this.collapsed[i] : want;
    this.collapsed[i] = v ? 1 : 0;
    this.recompute();
    this.render();
    this.emit();
  }

  // Collapses every span at depth >= d that has children (d = 0: all).
  collapseFrom(d) {
    for (let i = 0; i < this.n; i++) this.collapsed[i] = this.spans[i].depth >= d && this.hasChildren(i) ? 1 : 0;
    this.recompute();
    this.render();
    this.emit();
  }

  expandAll() { this.collapseFrom(Infinity); }

  // Restores a collapsed set (from the URL, on back and forward).
  setCollapsed(ids) {
    this.collapsed.fill(0);
    for (const id of ids) {
      const i = this.byId.get(id);
      if (i !== undefined) this.collapsed[i] = 1;
    }
    this.recompute();
    this.render();
  }

  select(i, {notify = true, reveal = false} = {}) {
    this.sel = i;
    if (i >= 0 && reveal) {
      // Open the ancestors so the span has a row.
      let changed = false;
      for (let p = this.parent[i]; p >= 0; p = this.parent[p]) if (this.collapsed[p]) (this.collapsed[p] = 0), (changed = true);
      if (changed || this.rowIndex(i) < 0) this.recompute();
    }
    const k = i >= 0 ? this.rowIndex(i) : -1;
    if (k >= 0) {
      const top = k * ROW_H, hgt = this.body.clientHeight || 600;
      if (top < this.body.scrollTop) this.body.scrollTop = top;
      else if (top + ROW_H > this.body.scrollTop + hgt) this.body.scrollTop = top + ROW_H - hgt;
    }
    this.render();
    if (notify) {
      if (this.opts.onSelect) this.opts.onSelect(i >= 0 ? this.spans[i] : null);
      this.emit();
    }
  }

  selectId(id) {
    const i = this.byId.get(id);
    if (i !== undefined) this.select(i, {reveal: true});
  }

  onClick(e) {
    const row = e.target.closest('.wf-row');
    if (!row) return;
    const i = Number(row.dataset.i);
    if (e.target.closest('.tog') && this.hasChildren(i)) {
      this.toggle(i);
      return;
    }
    this.select(i);
    this.body.focus({preventScroll: true});
  }

  onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    let k = this.sel >= 0 ? this.rowIndex(this.sel) : -1;
    const i = this.sel;
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        k = Math.min(this.count - 1, k + 1);
        break;
      case 'ArrowUp':
      case 'k':
        k = Math.max(0, k - 1);
        break;
      case 'Home':
        k = 0;
        break;
      case 'End':
        k = this.count - 1;
        break;
      case 'PageDown':
        k = Math.min(this.count - 1, k + Math.floor(this.body.clientHeight / ROW_H));
        break;
      case 'PageUp':
        k = Math.max(0, k - Math.floor(this.body.clientHeight / ROW_H));
        break;
      case 'ArrowLeft':
        e.preventDefault();
        if (i < 0) return;
        if (this.hasChildren(i) && !this.collapsed[i]) this.toggle(i, true);
        else if (this.parent[i] >= 0) this.select(this.parent[i]);
        return;
      case 'ArrowRight':
        e.preventDefault();
        if (i < 0) return;
        if (this.hasChildren(i) && this.collapsed[i]) this.toggle(i, false);
        else if (this.hasChildren(i)) this.select(i + 1);
        return;
      case 'Enter':
      case ' ':
        e.preventDefault();
        if (i >= 0) this.toggle(i);
        return;
      case 'Escape':
        this.select(-1);
        return;
      default:
        return;
    }
    e.preventDefault();
    if (k >= 0 && k < this.count) this.select(this.visible[k]);
  }

  // Jumps to the next span matching the filter after the selection.
  nextMatch() {
    if (!this.match || !this.count) return;
    const start = this.sel >= 0 ? this.rowIndex(this.sel) : -1;
    for (let d = 1; d <= this.count; d++) {
      const k = (start + d) % this.count;
      if (this.match[this.visible[k]]) {
        this.select(this.visible[k]);
        return;
      }
    }
  }

  setCritical(on) {
    this.critical = on;
    this.render();
    this.emit();
  }

  state() {
    const collapsed = [];
    for (let i = 0; i < this.n && collapsed.length < 200; i++) if (this.collapsed[i]) collapsed.push(this.spans[i].spanID);
    return {
      selected: this.sel >= 0 ? this.spans[this.sel].spanID : '',
      collapsed,
      filter: this.filterText,
      from: this.zoomed() ? this.from : undefined,
      to: this.zoomed() ? this.to : undefined,
      critical: this.critical,
    };
  }

  emit() {
    if (this.opts.onState) this.opts.onState(this.state());
  }
}

// Small SVG charts drawn from plain arrays: the search scatter plot, line
// charts over time, sparklines and histograms. Sizes come from the
// viewBox, so charts scale with their container without measuring it.
import {s, fmtDur, fmtTime} from './dom.js';

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// points: [{x (µs), y (ns), r, err, title, onClick}]
export function scatter(points, {width = 900, height = 180} = {}) {
  const L = 64, R = 12, T = 10, B = 24;
  const svg = s('svg', {class: 'scatter', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'Trace duration over time'});
  if (!points.length) return svg;
  let x0 = Math.min(...points.map((p) => p.x)), x1 = Math.max(...points.map((p) => p.x));
  if (x1 === x0) (x0 -= 1e6), (x1 += 1e6);
  const yMax = niceMax(Math.max(...points.map((p) => p.y)));
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (width - L - R);
  const Y = (y) => height - B - (y / yMax) * (height - T - B);
  const axis = s('g', {class: 'axis'});
  for (let k = 0; k <= 4; k++) {
    const y = (yMax * k) / 4;
    axis.append(s('line', {x1: L, x2: width - R, y1: Y(y), y2: Y(y), class: 'gridline', 'stroke-dasharray': k ? '2 4' : ''}),
      s('text', {x: L - 6, y: Y(y) + 4, 'text-anchor': 'end'}, fmtDur(y)));
  }
  for (let k = 0; k <= 4; k++) {
    const x = x0 + ((x1 - x0) * k) / 4;
    axis.append(s('text', {x: X(x), y: height - 6, 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}, fmtTime(x).slice(0, 8)));
  }
  svg.append(axis);
  for (const p of points) {
    // Traces with errors: red and ringed, so they differ by shape too.
    const c = s('circle', {cx: X(p.x), cy: Y(p.y), r: p.r || 5, class: p.err ? 'err' : undefined, fill: p.err ? 'var(--err)' : 'var(--accent)', 'fill-opacity': 0.65, tabindex: 0, role: 'link'},
      s('title', null, p.title));
    if (p.onClick) {
      c.addEventListener('click', p.onClick);
      c.addEventListener('keydown', (e) => e.key === 'Enter' && p.onClick());
    }
    if (p.dataset) Object.assign(c.dataset, p.dataset);
    svg.append(c);
  }
  return svg;
}

// series: [{t (µs), v}] over [t0, t1]; fmt formats values for the axis.
export function lineChart(series, {t0, t1, fmt = String, title = '', width = 320, height = 120, bars = false, err = false} = {}) {
  const L = 56, R = 8, T = 16, B = 18;
  const svg = s('svg', {class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title});
  svg.append(s('text', {x: L, y: 11}, title));
  const vMax = niceMax(Math.max(0, ...series.map((p) => p.v)));
  if (t1 <= t0) t1 = t0 + 1;
  const X = (t) => L + ((t - t0) / (t1 - t0)) * (width - L - R);
  const Y = (v) => height - B - (v / vMax) * (height - T - B);
  const g = s('g', {class: 'axis'});
  for (const v of [0, vMax / 2, vMax])
    g.append(s('line', {x1: L, x2: width - R, y1: Y(v), y2: Y(v), class: 'gridline', 'stroke-dasharray': v ? '2 4' : ''}),
      s('text', {x: L - 4, y: Y(v) + 4, 'text-anchor': 'end'}, fmt(v)));
  g.append(s('text', {x: L, y: height - 4}, fmtTime(t0).slice(0, 5)), s('text', {x: width - R, y: height - 4, 'text-anchor': 'end'}, fmtTime(t1).slice(0, 5)));
  svg.append(g);
  if (!series.length) {
    svg.append(s('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle'}, 'no data'));
    return svg;
  }
  if (bars) {
    const bw = Math.max(2, ((width - L - R) / Math.max(1, (t1 - t0))) * (series.step || 60e6) * 0.8);
    for (const p of series)
      svg.append(s('rect', {class: 'bar' + (err ? ' err' : ''), x: X(p.t), y: Y(p.v), width: bw, height: Math.max(0, Y(0) - Y(p.v))}, s('title', null, `${fmtTime(p.t)}: ${fmt(p.v)}`)));
  } else {
    const d = series.map((p, i) => `${i ? 'L' : 'M'}${X(p.t).toFixed(1)},${Y(p.v).toFixed(1)}`).join('');
    svg.append(s('path', {class: 'line', d}));
    for (const p of series) svg.append(s('circle', {cx: X(p.t), cy: Y(p.v), r: 2.2, fill: 'var(--accent)'}, s('title', null, `${fmtTime(p.t)}: ${fmt(p.v)}`)));
  }
  return svg;
}

export function sparkline(values, {width = 120, height = 26} = {}) {
  const svg = s('svg', {class: 'spark', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none'});
  if (values.length < 1) return svg;
  const max = Math.max(...values) || 1;
  const X = (i) => (values.length === 1 ? width / 2 : (i / (values.length - 1)) * (width - 2) + 1);
  const Y = (v) => height - 2 - (v / max) * (height - 4);
  svg.append(s('path', {class: 'line', d: values.map((v, i) => `${i ? 'L' : 'M'}${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join('')}));
  return svg;
}

// Latency buckets from /api/v1/stats ([{leNs, count}], ascending, counts
// per bucket): one bar per bucket, side by side (the bounds are log-spaced).
export function histogram(buckets, {width = 520, height = 140, title = 'Latency histogram'} = {}) {
  const L = 40, R = 8, T = 16, B = 30;
  const svg = s('svg', {class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title});
  svg.append(s('text', {x: L, y: 11}, title));
  const nb = (buckets || []).length;
  if (!nb || !buckets.some((b) => b.count)) {
    svg.append(s('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle'}, 'no data'));
    return svg;
  }
  const cMax = Math.max(...buckets.map((b) => b.count));
  const bw = (width - L - R) / nb;
  buckets.forEach((b, k) => {
    const hgt = (b.count / cMax) * (height - T - B);
    const from = k ? buckets[k - 1].leNs : 0;
    svg.append(s('rect', {class: 'bar', x: L + k * bw + 1, y: height - B - hgt, width: Math.max(1, bw - 2), height: hgt, dataset: {le: String(b.leNs), count: String(b.count)}},
      s('title', null, `${k ? fmtDur(from) : '0'} – ${fmtDur(b.leNs)}: ${b.count}`)));
  });
  const g = s('g', {class: 'axis'});
  g.append(s('text', {x: L - 4, y: T + 8, 'text-anchor': 'end'}, String(cMax)), s('text', {x: L - 4, y: height - B, 'text-anchor': 'end'}, '0'));
  // Bucket upper bounds under the first, middle and last bars' right edges.
  for (const k of [0, Math.floor((nb - 1) / 2), nb - 1].filter((v, i, a) => a.indexOf(v) === i))
    g.append(s('text', {x: L + (k + 1) * bw, y: height - 12, 'text-anchor': k === nb - 1 ? 'end' : 'middle'}, '≤ ' + fmtDur(buckets[k].leNs)));
  svg.append(g);
  return svg;
}

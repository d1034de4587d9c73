// The query server's JSON API as the views use it: one fetch wrapper that
// turns HTTP and network failures into ApiError with the server's message
// (both Callscope's {error:{message}} and Jaeger's {errors:[{msg}]} shapes).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener('abort', () => {
    clearTimeout(t);
    reject(new DOMException('aborted', 'AbortError'));
  }, {once: true});
});

export async function api(path, params, opts = {}) {
  let res;
  // The server answers 429 while its few heavy-query slots are busy (for
  // instance with the scans of a page just left): retry a few times.
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(path + query(params), {signal: opts.signal, headers: {Accept: 'application/json'}});
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'cannot reach the query server: ' + e.message);
    }
    if (res.status !== 429 || attempt >= 4) break;
    await sleep(250 * 2 ** attempt, opts.signal);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    throw new ApiError(res.status, `bad JSON from ${path} (HTTP ${res.status})`);
  }
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    if (body && body.error && body.error.message) msg = body.error.message;
    else if (body && Array.isArray(body.errors) && body.errors.length) msg = body.errors[0].msg;
    throw new ApiError(res.status, msg);
  }
  return body;
}

const enc = encodeURIComponent;
export const paths = {
  search: '/api/v1/search',
  services: '/api/v1/services',
  session: (id) => '/api/v1/sessions/' + enc(id),
  tree: (id) => '/api/v1/traces/' + enc(id) + '/tree',
  trace: (id) => '/api/v1/traces/' + enc(id),
  jaegerTrace: (id) => '/api/traces/' + enc(id),
  jaegerTraces: '/api/traces',
  stats: '/api/v1/stats',
  deps: '/api/v1/dependencies',
};

// Shared helpers of the real-client tests: start the all-in-one `callscope`
// on free ports with a temporary data directory, poll its query API, and
// assert with messages that show both values.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function fail(msg) {
  throw new Error(msg);
}

export function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) fail(`${what}: got ${g}, want ${w}`);
}

export function ok(cond, what) {
  if (!cond) fail(what);
}

// Starts callscope with every listener on an ephemeral port and resolves
// once both startup lines (query port, receiver ports) are printed.
export async function startCallscope(bin, extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), 'cs-recv-'));
  const args = ['--data-dir', join(dir, 'data'), '--tcp-port', '0', '--udp-port', '0',
    '--query-port', '0', '--otlp-http-port', '0', '--zipkin-port', '0', '--statsd-port', '0',
    '--stats-interval', '0', ...extraArgs];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`callscope did not start:\n${out}\n${err}`)), 15000);
    proc.on('exit', (code) => reject(new Error(`callscope exited ${code}:\n${err}`)));
    proc.stdout.on('data', (d) => {
      out += d;
      const q = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      const r = /receivers otlp-http (\d+), zipkin (\d+), statsd (\d+)/.exec(out);
      if (q && r) {
        clearTimeout(timer);
        resolve({ query: +q[1], otlp: +r[1], zipkin: +r[2], statsd: +r[3] });
      }
    });
  });
  proc.removeAllListeners('exit');
  // Stops the daemon; fails when it did not exit cleanly or a sanitizer
  // reported anything (leaks are only reported at exit).
  const stop = async () => {
    let code = proc.exitCode;
    if (code === null) {
      const done = new Promise((res) => proc.on('exit', (c) => res(c)));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      code = await done;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0 || /Sanitizer|runtime error/.test(err))
      fail(`callscope exit ${code}:\n${err.split('\n').filter((l) => /Sanitizer|runtime error|#\d+ /.test(l)).slice(0, 30).join('\n')}`);
  };
  return { ports, stop, pid: proc.pid, log: () => err };
}

export async function getJSON(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  const body = await r.text();
  return { status: r.status, body: body.length ? JSON.parse(body) : null };
}

export async function getText(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return r.text();
}

// Polls fn until it returns a truthy value or the deadline passes.
export async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`timed out waiting for ${what}`);
}

export function tagMap(tags) {
  const m = {};
  for (const t of tags) m[t.key] = { type: t.type, value: t.value };
  return m;
}

export async function runTests(tests) {
  let failed = 0;
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }
  console.log(failed ? `${failed} of ${tests.length} failed` : `all ${tests.length} passed`);
  process.exit(failed ? 1 : 0);
}

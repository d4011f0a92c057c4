// What every browser test shares: the callscope binary and Chromium, free ports, the app registry
// commands, `callscope up` on a temporary data directory, and a headless Chromium profile.
//
// Environment: CALLSCOPE_BIN (default: the workspace's debug build), CHROMIUM (default
// /usr/bin/chromium).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const sdk = path.join(here, '..');
export const repo = path.join(sdk, '..', '..');

export const BIN = [
  process.env.CALLSCOPE_BIN,
  process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug', 'callscope'),
  '/var/cache/callscope/target/debug/callscope',
  path.join(repo, 'target', 'debug', 'callscope'),
].find((p) => p && existsSync(p));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** How long `stop()` waits after SIGTERM before SIGKILL (shutdown flushes the lake: seconds, not minutes). */
const STOP_TIMEOUT_MS = 30_000;
/** How long a `callscope` command may run before it is killed and the test fails. */
export const COMMAND_TIMEOUT_MS = 180_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** Fails early, with the fix, when the binary or the browser is missing. */
export function checkTools() {
  assert.ok(BIN, 'the callscope binary is missing: build it (cargo build) or set CALLSCOPE_BIN');
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run node scripts/ensure-chromium.mjs`);
}

/** Runs `callscope --data-dir DIR ARGS...` and returns its standard output. */
export const callscope = (dataDir, ...args) =>
  execFileSync(BIN, ['--data-dir', dataDir, ...args], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' });

/** Registers an app; returns its AppSecret. */
export const addApp = (dataDir, appID, name) =>
  /AppSecret:\s*(\S+)/.exec(callscope(dataDir, 'apps', 'add', '--name', name, '--app-id', appID))[1];

/** Creates a query key for an app; returns it. */
export const addQueryKey = (dataDir, appID) =>
  /query key for app \S+: (\S+)/.exec(callscope(dataDir, 'apps', 'add-query-key', appID))[1];

/**
 * Starts `callscope up` on `dataDir` with free ports and `env` added to the configuration
 * (`CALLSCOPE__SECTION__KEY`), and waits until ingest and query answer their health checks.
 * Returns the URLs, the process's output so far (`log()`) and `stop()` (SIGTERM, then wait).
 */
export async function startUp(dataDir, env = {}) {
  // A port found free can be taken again before `up` binds it; `up` then exits at once and is
  // started again on other ports.
  let output = '';
  for (let attempt = 1; attempt <= 5; attempt++) {
    const up = await startUpOnce(dataDir, env);
    if (up.ingestURL) return up;
    output = up.output;
  }
  throw new Error('callscope up did not start in 5 attempts:\n' + output);
}

async function startUpOnce(dataDir, env) {
  const [port, qport, aport] = [await freePort(), await freePort(), await freePort()];
  const ingestURL = `http://127.0.0.1:${port}`;
  const queryURL = `http://127.0.0.1:${qport}`;
  let output = '';
  const proc = spawn(BIN, ['--data-dir', dataDir, 'up', '--ingest-listen', `127.0.0.1:${port}`, '--query-listen', `127.0.0.1:${qport}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CALLSCOPE__PROCESSOR__METRICS__LISTEN: `127.0.0.1:${aport}`, ...env },
  });
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  // A test that fails half-way must not leave the service running: its pipes would keep this test
  // file's process (and so the whole test run) alive for ever.
  // Unreferenced, so that the service alone never keeps this process alive; killed when it exits.
  proc.unref();
  proc.stdout.unref();
  proc.stderr.unref();
  const exited = new Promise((r) => proc.once('exit', r));
  const killNow = () => proc.exitCode == null && proc.signalCode == null && proc.kill('SIGKILL');
  process.once('exit', killNow);
  const stop = async () => {
    if (proc.exitCode != null || proc.signalCode != null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      output += `\n[harness] callscope up did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM: killed\n`;
      killNow();
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(ingestURL + '/healthz')).ok && (await fetch(queryURL + '/healthz')).ok) break;
    } catch {
      /* not up yet */
    }
    if (proc.exitCode != null) return { output };
    if (i > 600) {
      await stop();
      throw new Error('callscope up did not start within 60 s:\n' + output);
    }
    await sleep(100);
  }
  return { ingestURL, queryURL, log: () => output, stop };
}

/** A headless Chromium profile in `profileDir`; `fakeMedia` gives it a fake camera and microphone. */
export function launchChromium(profileDir, { fakeMedia = false, viewport } = {}) {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (fakeMedia) args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream');
  return chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, ...(viewport ? { viewport } : {}), args });
}

/**
 * Serves `files` (`{path: [content type, body or () => body]}`) on a free port of 127.0.0.1: the
 * web app's own origin, another port than callscope's, so CORS is exercised as in production.
 * Returns the origin URL and `close()`.
 */
export async function servePage(files) {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const f = files[req.url];
    if (!f) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': f[0] }).end(typeof f[1] == 'function' ? f[1]() : f[1]);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

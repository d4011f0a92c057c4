// Browser test of the seed's last section and of the integration progress page: a web app loads the
// SDK through require.js with the seed's shim configuration, calls initialize and addNewFabric, and
// sends one sendFabricEvent the server refuses; the progress API and the dashboard's Integration
// page then show exactly that: two lines green, one amber with the error, the rest grey.
//
// Runs against the real `callscope up` (CALLSCOPE_BIN) and headless Chromium (CHROMIUM).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { addApp, addQueryKey, callscope, checkTools, here, launchChromium, sdk, servePage, sleep, startUp } from './harness.mjs';

const require = createRequire(import.meta.url);
const ARTIFACTS = path.join(here, 'artifacts');

const APP_ID = '654321';
const OTHER_APP = '777777';
const CONF = 'integration-conf';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callscope-integration-'));
let up;
let ingestURL;
let queryURL;
let queryKey;
let otherKey;
let appSecret;
let pageURL;
let server;
let context;

// The web app, as the seed's require.js section writes it: callstats depends on socketio and sha
// (shimmed to their globals), and the app depends on callstats. callscope needs neither library;
// the shims load tiny stand-ins so the configuration is used exactly as written.
const MAIN_JS = `
requirejs.config({
  paths: {
    callstats: '/callscope',
    socketio: '/socket.io-stub',
    sha: '/sha-stub',
    WebRTCApp: '/webrtc-app'
  },
  shim: {
    'socketio': { exports: 'io' },
    'sha': { exports: 'jsSHA' },
    'callstats': { deps: ['socketio', 'sha'] },
    'WebRTCApp': { deps: ['callstats'] }
  }
});
require(['WebRTCApp']);
`;

const APP_JS = `
define(['callstats'], function (callstats) {
  window.loadedVia = { amd: typeof callstats === 'function', global: window.callstats === callstats, io: typeof window.io, jsSHA: typeof window.jsSHA };
  window.runIntegration = function (a) {
    return new Promise(function (resolve) {
      var log = { init: [], fabric: [] };
      var cs = new callstats(null, window.io, window.jsSHA);
      log.initResult = cs.initialize(a.appID, a.appSecret, 'alice', function (s, m) {
        log.init.push([s, m]);
        if (s !== 'success') return resolve(log);
        var pc = new RTCPeerConnection();
        window.pc = pc;
        log.addResult = cs.addNewFabric(pc, 'bob', cs.fabricUsage.multiplex, a.conf, function (s2, m2) {
          log.fabric.push([s2, m2]);
          resolve(log);
        });
      }, null, { serverURL: a.serverURL });
    });
  };
});
`;

before(async () => {
  checkTools();
  const dataDir = path.join(tmp, 'data');
  appSecret = addApp(dataDir, APP_ID, 'integration');

  const files = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><title>app</title><script data-main="/main.js" src="/require.js"></script>'],
    '/require.js': ['text/javascript', () => readFileSync(require.resolve('requirejs/require.js'))],
    '/main.js': ['text/javascript', MAIN_JS],
    '/callscope.js': ['text/javascript', () => readFileSync(path.join(sdk, 'dist', 'callscope.js'))],
    '/socket.io-stub.js': ['text/javascript', 'window.io = function () {};'],
    '/sha-stub.js': ['text/javascript', 'window.jsSHA = function () {};'],
    '/webrtc-app.js': ['text/javascript', APP_JS],
    '/favicon.ico': ['image/x-icon', ''],
  };
  server = await servePage(files);
  pageURL = server.url;
  callscope(dataDir, 'apps', 'add-origin', APP_ID, pageURL);
  queryKey = addQueryKey(dataDir, APP_ID);
  // Another app of the same installation: it must see none of the first app's progress.
  addApp(dataDir, OTHER_APP, 'other');
  otherKey = addQueryKey(dataDir, OTHER_APP);

  up = await startUp(dataDir, {
    CALLSCOPE__PROCESSOR__FLUSH_INTERVAL_MS: '500',
    CALLSCOPE__INGEST__PROGRESS_INTERVAL_MS: '500',
    CALLSCOPE__QUERY__LIMITS__CACHE_TTL_MS: '0',
  });
  ({ ingestURL, queryURL } = up);
  context = await launchChromium(path.join(tmp, 'profile'), { viewport: { width: 1280, height: 1100 } });
});

after(async () => {
  await context?.close();
  server?.close();
  await up?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The 4-way handshake from outside the page, as another client of the same app would do it. */
async function token() {
  const post = (p, body) =>
    fetch(ingestURL + p, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: pageURL }, body: JSON.stringify(body) });
  const { challenge } = await (await post('/v1/auth/challenge', { appID: APP_ID, userID: 'alice' })).json();
  const response = createHmac('sha256', appSecret).update(challenge).digest('hex');
  const issued = await (await post('/v1/auth/response', { challenge, response })).json();
  assert.ok(issued.access_token, JSON.stringify(issued));
  return issued.access_token;
}

async function progress(ready) {
  let last;
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${queryURL}/api/v1/integration`, { headers: { Authorization: `Bearer ${queryKey}` } });
    if (r.ok) {
      last = await r.json();
      if (ready(last)) return last;
    }
    await sleep(200);
  }
  assert.fail('integration progress not ready: ' + JSON.stringify(last)?.slice(0, 3000) + '\n' + up.log().slice(-3000));
}

test('the progress API refuses callers without a valid query key', async () => {
  for (const headers of [{}, { Authorization: 'Bearer csq_not-a-key' }, { Authorization: `Bearer ${appSecret}` }]) {
    const r = await fetch(`${queryURL}/api/v1/integration`, { headers });
    assert.equal(r.status, 401, JSON.stringify(headers));
    const body = await r.text();
    assert.ok(!body.includes('"items"'), body);
  }
});

test('require.js loads the SDK with the seed shim; a partial integration shows two green, one amber, the rest grey', { timeout: 120000 }, async () => {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('[page error]', e));
  await page.goto(pageURL + '/');
  await page.waitForFunction(() => typeof window.runIntegration === 'function', null, { timeout: 20000 });
  const loaded = await page.evaluate(() => window.loadedVia);
  // The AMD module is the SDK's constructor (and the UMD bundle also sets the global); the shimmed
  // dependencies were loaded first with their globals.
  assert.deepEqual(loaded, { amd: true, global: true, io: 'function', jsSHA: 'function' });

  const log = await page.evaluate((a) => window.runIntegration(a), { appID: APP_ID, appSecret, serverURL: ingestURL, conf: CONF });
  assert.equal(log.initResult.status, 'success', JSON.stringify(log));
  assert.deepEqual(log.init.map(([s]) => s), ['success'], JSON.stringify(log));
  assert.equal(log.addResult.status, 'success', JSON.stringify(log));
  assert.deepEqual(log.fabric.map(([s]) => s), ['success'], JSON.stringify(log));

  // One sendFabricEvent the server refuses: a value that is not a callstats.fabricEvent. (The SDK
  // refuses it client-side, so it is sent the way a hand-rolled client would.)
  const bearer = await token();
  const refused = await fetch(`${ingestURL}/v1/apps/${APP_ID}/conferences/${CONF}/batch`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: pageURL, Authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ events: [{ kind: 'media_action', data: { remoteID: 'bob', connectionID: 'pc-1', eventType: 'fooBar' } }] }),
  });
  assert.equal(refused.status, 422);
  const refusal = await refused.json();
  assert.equal(refusal.field, 'events[0].data.eventType');

  const p = await progress((d) => {
    const i = Object.fromEntries(d.items.map((x) => [x.item, x]));
    return i.initialize.accepted >= 1 && i.add_new_fabric.accepted >= 1 && i.send_fabric_event.refused >= 1;
  });
  const by = (s) => p.items.filter((x) => x.status == s).map((x) => x.item);
  assert.deepEqual(by('green'), ['initialize', 'add_new_fabric']);
  assert.deepEqual(by('amber'), ['send_fabric_event']);
  assert.equal(by('grey').length, 17);
  assert.deepEqual([p.green, p.amber, p.grey], [2, 1, 17]);
  const items = Object.fromEntries(p.items.map((x) => [x.item, x]));
  // The SDK's handshake and the one above.
  assert.equal(items.initialize.accepted, 2);
  assert.equal(items.add_new_fabric.accepted, 1);
  const amber = items.send_fabric_event;
  assert.deepEqual([amber.accepted, amber.refused], [0, 1]);
  assert.equal(amber.refusals.length, 1);
  assert.equal(amber.refusals[0].field, 'events[0].data.eventType');
  assert.equal(amber.refusals[0].status, 422);
  assert.equal(amber.refusals[0].error, refusal.msg);
  assert.match(amber.fix, /callstats\.fabricEvent/);

  // The same on the dashboard page.
  const dash = await context.newPage();
  await dash.goto(queryURL + '/');
  await dash.fill('#key', queryKey);
  await dash.click('#signin-form button[type=submit]');
  await dash.waitForSelector('#who:has-text("app ' + APP_ID + '")');
  await dash.goto(queryURL + '/#/integration');
  await dash.waitForSelector('#integration tbody tr');
  const rows = await dash.$$eval('#integration tbody tr', (trs) => trs.map((tr) => [tr.dataset.item, tr.dataset.status, tr.innerText]));
  assert.equal(rows.length, 20);
  const status = (s) => rows.filter(([, st]) => st == s).map(([i]) => i);
  assert.deepEqual(status('green'), ['initialize', 'add_new_fabric']);
  assert.deepEqual(status('amber'), ['send_fabric_event']);
  assert.equal(status('grey').length, 17);
  const amberText = rows.find(([i]) => i == 'send_fabric_event')[2];
  assert.ok(amberText.includes(refusal.msg), amberText);
  assert.ok(amberText.includes('events[0].data.eventType'), amberText);
  assert.deepEqual(
    await dash.$$eval(['#count-green', '#count-amber', '#count-grey'].join(','), (els) => els.map((e) => e.textContent)),
    ['2', '1', '17'],
  );
  // Another app's key reads its own (empty) checklist, never this one's.
  const other = await (await fetch(`${queryURL}/api/v1/integration`, { headers: { Authorization: `Bearer ${otherKey}` } })).json();
  assert.deepEqual([other.green, other.amber, other.grey], [0, 0, 20]);
  const foreign = await fetch(`${queryURL}/api/v1/integration?app_id=${APP_ID}`, { headers: { Authorization: `Bearer ${otherKey}` } });
  assert.equal(foreign.status, 403);
  mkdirSync(ARTIFACTS, { recursive: true });
  await dash.screenshot({ path: path.join(ARTIFACTS, 'integration.png'), fullPage: true });
  await dash.close();
  await page.close();
});

// Browser end-to-end test: the real `callscope up` (ingest, processor, query), a test page served over
// http://127.0.0.1, and headless Chromium (Debian's package) with fake media devices, driven by
// playwright-core. Run with `npm run test:browser` (it builds dist/ first).
//
// Environment: E2E_DUMP (a file to write the sent batches and the page's log to), CALLSCOPE_BIN (the callscope binary; default: the workspace's debug build),
// CHROMIUM (default /usr/bin/chromium).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { addApp, addQueryKey, callscope, checkTools, here, launchChromium, sdk, servePage, sleep, startUp } from './harness.mjs';

const APP_ID = '123456';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callscope-sdk-e2e-'));
let ingest;
let ingestURL;
let page;
let server;
let pageURL;
let context;
let appSecret;
let queryURL;
let queryKey;

/** The conference as the query API shows it, once `ready(conference)` holds (polls for up to 60 s). */
async function conference(id, ready) {
  let last;
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${queryURL}/api/v1/conferences/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${queryKey}` } });
    if (r.ok) {
      last = await r.json();
      if (ready(last)) return last;
    }
    await sleep(200);
  }
  assert.fail(`conference ${id} not ready in the query API: ${JSON.stringify(last)?.slice(0, 3000)}`);
}

async function metrics() {
  const text = await (await fetch(ingestURL + '/metrics')).text();
  const events = {};
  const refusals = {};
  for (const m of text.matchAll(/^callscope_ingest_events_total\{kind="([^"]+)"\} (\d+)/gm)) events[m[1]] = +m[2];
  for (const m of text.matchAll(/^callscope_ingest_refusals_total\{reason="([^"]+)"\} (\d+)/gm)) refusals[m[1]] = +m[2];
  return { events, refusals };
}

before(async () => {
  checkTools();
  const dataDir = path.join(tmp, 'data');
  appSecret = addApp(dataDir, APP_ID, 'sdk-e2e');

  // The test page, on its own origin (another port), so CORS is exercised as in production.
  const files = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><script src="/callscope.js"></script><script src="/call.js"></script>'],
    '/callscope.js': ['text/javascript', () => readFileSync(path.join(sdk, 'dist', 'callscope.js'))],
    '/call.js': ['text/javascript', () => readFileSync(path.join(here, 'page', 'call.js'))],
    '/favicon.ico': ['image/x-icon', ''],
  };
  server = await servePage(files);
  pageURL = server.url;
  callscope(dataDir, 'apps', 'add-origin', APP_ID, pageURL);
  queryKey = addQueryKey(dataDir, APP_ID);
  // The whole platform, as a developer runs it: `callscope up` (ingest, processor, query) on the embedded log.
  ingest = await startUp(dataDir, {
    CALLSCOPE__PROCESSOR__FLUSH_INTERVAL_MS: '500',
    CALLSCOPE__PROCESSOR__CLOSE_GRACE_MS: '1000',
    CALLSCOPE__QUERY__LIMITS__CACHE_TTL_MS: '0',
  });
  ({ ingestURL, queryURL } = ingest);
  context = await launchChromium(path.join(tmp, 'profile'), { fakeMedia: true });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => m.type() == 'error' && console.log('[page]', m.text()));
  page.on('pageerror', (e) => console.log('[page error]', e));
});

after(async () => {
  await context?.close();
  server?.close();
  await ingest?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('bad arguments are refused client-side without any request', async () => {
  const requests = [];
  const onRequest = (r) => r.url().startsWith(ingestURL) && requests.push(r.url());
  page.on('request', onRequest);
  await page.goto(pageURL + '/');
  const results = await page.evaluate((a) => window.badInitialize(a), {
    appID: APP_ID,
    appSecret,
    serverURL: ingestURL,
  });
  for (const r of results) assert.equal(r.status, 'failure', JSON.stringify(r));
  assert.match(results[0].msg, /localUserID/);
  assert.match(results[1].msg, /applicationVersion exceeds 30 characters/);
  assert.match(results[2].msg, /AppID/);
  assert.match(results[3].msg, /initialize\(\) must be called first/);
  await sleep(1500);
  page.off('request', onRequest);
  assert.deepEqual(requests, []);
  const { events, refusals } = await metrics();
  assert.deepEqual(events, {});
  assert.deepEqual(refusals, {});
});

test('a loopback call in Chromium reaches callscope up, fires the stats callback and shows in the query API', { timeout: 120000 }, async () => {
  // Every batch the page sends, as sent.
  const batches = [];
  const onRequest = (r) => r.url().includes('/batch') && batches.push(JSON.parse(r.postData()));
  page.on('request', onRequest);
  await page.goto(pageURL + '/');
  const conf = 'e2e-conference-' + Date.now();
  const log = await page.evaluate((a) => window.runCall(a), {
    appID: APP_ID,
    appSecret,
    serverURL: ingestURL,
    conf,
  });

  for (const [name, r] of Object.entries(log.results)) assert.equal(r.status, 'success', `${name}: ${r.msg}`);
  for (const [name, r] of Object.entries(log.refused)) assert.equal(r.status, 'failure', `${name} must be refused`);
  assert.match(log.refused.usage.msg, /fabricUsage/);
  assert.match(log.refused.feedback.msg, /overall/);
  assert.match(log.refused.label.msg, /usageLabel exceeds 20 bytes/);
  assert.match(log.refused.event.msg, /fabricEvent/);

  // csInitCallback: the handshake succeeded for both users.
  assert.deepEqual(
    log.init.filter(([, s]) => s == 'success').map(([w]) => w).sort(),
    ['alice', 'bob'],
    JSON.stringify(log.init),
  );
  assert.deepEqual(log.errors, []);
  // pcCallback: fabric_created (and alice's feedback) acknowledged by the server.
  for (const who of ['alice', 'bob', 'alice-feedback'])
    assert.ok(log.pcCallbacks.some(([w, s]) => w == who && s == 'success'), JSON.stringify(log.pcCallbacks));

  // The stats callback: per media stream track, with plausible values.
  for (const who of ['alice', 'bob']) {
    const tracks = log.stats.filter(([w]) => w == who).flatMap(([, s]) => s.tracks);
    const inbound = tracks.filter((t) => t.statsType == 'inbound-rtp' && t.bitrate > 0);
    assert.ok(inbound.length > 0, `${who}: no inbound track with a bitrate`);
    assert.deepEqual([...new Set(inbound.map((t) => t.mediaType))].sort(), ['audio', 'video']);
    for (const t of tracks) {
      assert.ok(t.bitrate >= 0 && t.bitrate < 50000, `bitrate ${t.bitrate} kbps`);
      assert.ok(t.fractionLoss >= 0 && t.fractionLoss <= 1, `fractionLoss ${t.fractionLoss}`);
      assert.ok(t.jitter == null || (t.jitter >= 0 && t.jitter < 1000), `jitter ${t.jitter} ms`);
      assert.ok(t.rtt == null || (t.rtt >= 0 && t.rtt < 1000), `rtt ${t.rtt} ms`);
      assert.ok(['excellent', 'good', 'fair', 'poor', 'bad'].includes(t.quality), t.quality);
    }
    const video = inbound.find((t) => t.mediaType == 'video');
    assert.ok(video.bitrate > 10, `video bitrate ${video.bitrate} kbps`);
  }
  // associateMstWithUserID labels reach the callback.
  assert.ok(
    log.stats.some(([w, s]) => w == 'alice' && s.tracks.some((t) => t.usageLabel == 'front-camera' && t.userID == 'alice')),
  );

  // What ingest acknowledged (counted only after the bus acknowledged the write).
  let m;
  const wanted = ['user_joined', 'fabric_created', 'fabric_setup', 'stats_sample', 'feedback', 'fabric_terminated'];
  for (let i = 0; i < 100; i++) {
    m = await metrics();
    if (wanted.every((k) => m.events[k] >= 2)) break;
    await sleep(200);
  }
  for (const k of wanted) assert.ok(m.events[k] >= 2, `${k}: ${JSON.stringify(m.events)}`);
  // One join, one fabric, one termination and one feedback per user: the refused calls sent nothing.
  for (const k of ['user_joined', 'fabric_created', 'fabric_setup', 'fabric_terminated', 'feedback'])
    assert.equal(m.events[k], 2, `${k}: ${JSON.stringify(m.events)}`);
  for (const k of ['ssrc_map', 'media_action', 'fabric_state_change', 'ice_status'])
    assert.ok(m.events[k] > 0, `${k}: ${JSON.stringify(m.events)}`);
  assert.ok(m.events.stats_sample >= 4, `stats_sample: ${m.events.stats_sample}`);
  // Nothing the SDK sent was refused by validation.
  assert.deepEqual(m.refusals, {}, ingest.log().slice(-3000));

  // What was sent: setup delays measured from the connection's own state, and stats samples
  // that carry every cumulative counter (the queue's delta compression is expanded before sending).
  page.off('request', onRequest);
  // E2E_DUMP=file writes what was sent, for a look at the wire format.
  if (process.env.E2E_DUMP) writeFileSync(process.env.E2E_DUMP, JSON.stringify({ log, batches }, null, 1));
  const events = batches.flatMap((b) => b.events);
  const setups = events.filter((e) => e.kind == 'fabric_setup').map((e) => e.data);
  assert.equal(setups.length, 2);
  for (const d of setups) {
    assert.ok(d.delay > 0 && d.delay < log.callMs, `setup delay ${d.delay} ms, call ${log.callMs} ms`);
    assert.ok(d.iceConnectivityDelay >= 0 && d.iceConnectivityDelay <= d.delay, JSON.stringify(d));
    assert.ok(d.iceGatheringDelay >= 0, JSON.stringify(d));
    assert.equal(d.selectedCandidatePair.localCandidateType, 'host');
  }
  const samples = events.filter((e) => e.kind == 'stats_sample');
  for (const e of samples) {
    const rtp = e.data.stats.filter((r) => r.type == 'inbound-rtp' || r.type == 'outbound-rtp');
    assert.ok(rtp.length >= 2, 'every sample has the RTP reports');
    for (const r of rtp) {
      for (const k of ['id', 'type', 'timestamp', 'ssrc', 'kind'])
        assert.ok(r[k] != null, `${k} missing in ${JSON.stringify(r)}`);
      const counters = r.type == 'inbound-rtp' ? ['packetsReceived', 'bytesReceived', 'packetsLost'] : ['packetsSent', 'bytesSent'];
      for (const k of counters) assert.equal(typeof r[k], 'number', `${k} missing in ${r.type} ${r.id}`);
    }
    assert.ok(!e.data.stats.some((r) => 'base64Certificate' in r));
  }
  const terminated = events.filter((e) => e.kind == 'fabric_terminated').map((e) => e.data.reason);
  assert.deepEqual(terminated, ['closed', 'closed']);
  assert.ok(batches.every((b) => /^[0-9a-f]{8}-\d+-\d+$/.test(b.batchID)), 'every batch has a batchID');

  // What the processor made of it, through the query API: the closed conference with both fabrics set up
  // within the call, a MOS for both users, and the feedback.
  const c = await conference(conf, (c) => c.segments?.length > 0 && c.participants?.length >= 2 && c.feedback?.length >= 1);
  assert.equal(c.fabrics.length, 2, JSON.stringify(c.fabrics));
  for (const f of c.fabrics) {
    assert.equal(f.outcome, 'setup', JSON.stringify(f));
    assert.ok(f.setup_delay_ms > 0 && f.setup_delay_ms < log.callMs, `setup delay ${f.setup_delay_ms} ms, call ${log.callMs} ms`);
  }
  assert.deepEqual(c.participants.map((p) => p.user_id).sort(), ['alice', 'bob']);
  for (const p of c.participants) assert.ok(p.mean_mos >= 1 && p.mean_mos <= 4.5, `${p.user_id}: MOS ${p.mean_mos}`);
  assert.ok(c.feedback.some((f) => f.user_id == 'alice' && f.overall >= 1 && f.overall <= 5), JSON.stringify(c.feedback));
});

test('a fabric that cannot connect is reported as failed with its reason; reportError shows in the conference errors', { timeout: 90000 }, async () => {
  const before = (await metrics()).events;
  const batches = [];
  const onRequest = (r) => r.url().includes('/batch') && batches.push(JSON.parse(r.postData()));
  page.on('request', onRequest);
  await page.goto(pageURL + '/');
  const failingConf = 'e2e-failing-' + Date.now();
  const log = await page.evaluate((a) => window.runFailingCall(a), {
    appID: APP_ID,
    appSecret,
    serverURL: ingestURL,
    conf: failingConf,
  });
  page.off('request', onRequest);
  for (const [name, r] of Object.entries(log.results)) assert.equal(r.status, 'success', `${name}: ${r.msg}`);
  assert.deepEqual(log.errors, []);

  const events = batches.flatMap((b) => b.events);
  const failed = events.filter((e) => e.kind == 'fabric_setup_failed').map((e) => e.data);
  assert.equal(failed.length, 2);
  for (const d of failed) {
    assert.equal(d.reason, 'IceConnectionFailure');
    assert.match(d.message, /connectionState failed/);
    assert.ok(d.delay > 1000 && d.delay < 60000, `failure after ${d.delay} ms`);
    // Chrome lists the local candidates tried; remote ones only while they are in a pair.
    assert.ok(d.localCandidates?.length > 0, 'the candidates tried: ' + JSON.stringify(d));
  }
  assert.equal(events.filter((e) => e.kind == 'fabric_setup').length, 0);
  const errors = events.filter((e) => e.kind == 'report_error').map((e) => e.data);
  assert.deepEqual(errors.map((d) => [d.webRTCFunction, d.name]), [
    ['createOffer', 'OperationError'],
    ['setRemoteDescription', log.realError.split(':')[0]],
  ]);
  assert.match(errors[0].localSDP, /^v=0/);
  assert.ok(errors[0].connectionID, 'the error names its fabric');

  const after = (await metrics());
  const delta = (k) => (after.events[k] || 0) - (before[k] || 0);
  assert.equal(delta('fabric_setup_failed'), 2);
  assert.equal(delta('report_error'), 2);
  assert.equal(delta('fabric_terminated'), 2);
  assert.equal(delta('fabric_setup'), 0);
  assert.deepEqual(after.refusals, {}, ingest.log().slice(-3000));

  // Through the query API: the failed fabrics with their reason, and the createOffer error.
  const c = await conference(failingConf, (c) => c.segments?.length > 0 && c.errors?.some((e) => e.webrtc_function == 'createOffer'));
  assert.ok(c.fabrics.length >= 1, JSON.stringify(c.fabrics));
  for (const f of c.fabrics) {
    assert.equal(f.outcome, 'failed', JSON.stringify(f));
    assert.equal(f.failure_reason, 'IceConnectionFailure', JSON.stringify(f));
  }
  assert.equal(c.segments[0].setup_status, 'failed', JSON.stringify(c.segments[0]));
});

test('leaving the page terminates the fabrics and flushes with sendBeacon', { timeout: 60000 }, async () => {
  // user_left is only ever sent by the unload handler, through navigator.sendBeacon (a text/plain
  // body with the token as access_token): the server counting it proves that path.
  // The previous test's page leaves first, with its own beacon.
  await page.goto('about:blank');
  await sleep(1500);
  const before = (await metrics()).events;
  await page.goto(pageURL + '/');
  const acked = await page.evaluate((a) => window.startCall(a), {
    appID: APP_ID,
    appSecret,
    serverURL: ingestURL,
    conf: 'e2e-unload-' + Date.now(),
  });
  assert.deepEqual(acked, ['success', 'success']);
  await page.goto('about:blank');
  const delta = async (k) => ((await metrics()).events[k] || 0) - (before[k] || 0);
  for (let i = 0; i < 50 && (await delta('user_left')) < 2; i++) await sleep(200);
  assert.equal(await delta('user_left'), 2);
  assert.equal(await delta('fabric_terminated'), 2);
  assert.equal(await delta('media_action'), 1, 'what was still queued went with the beacon');
  assert.deepEqual((await metrics()).refusals, {});
});

test('dist/callscope.js is a script global, an AMD module named callstats, and a CommonJS module', async () => {
  const code = readFileSync(path.join(sdk, 'dist', 'callscope.js'), 'utf8');
  const script = { TextEncoder, URL };
  vm.createContext(script);
  vm.runInContext(code, script);
  assert.equal(typeof script.callstats, 'function');
  assert.equal(script.callstats.fabricUsage.multiplex, 'multiplex');
  const amd = { TextEncoder, URL, defined: [] };
  vm.createContext(amd);
  vm.runInContext('function define(n, d, f) { defined.push([n, d, f()]) } define.amd = {};' + code, amd);
  assert.equal(amd.defined.length, 1);
  assert.equal(amd.defined[0][0], 'callstats');
  assert.equal(amd.defined[0][2], amd.callstats, 'the AMD module is the global');
  const cjs = createRequire(import.meta.url)(path.join(sdk, 'dist', 'callscope.js'));
  assert.equal(typeof new cjs().initialize, 'function');
  const esm = (await import(pathToFileURL(path.join(sdk, 'dist', 'callscope.mjs')).href)).default;
  assert.equal(esm.endpointType.server, 'server');
});

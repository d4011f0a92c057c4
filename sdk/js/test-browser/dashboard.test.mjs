// Browser test of the web dashboard (query/static, served by the query service at /): the real
// `callscope up` on a temporary data directory, seeded with `callscope simulate` (good, lossy,
// relayed and failing-setup calls through the ingest HTTP API), then headless Chromium (Debian's
// package, driven by playwright-core) signs in with the query key, checks that the overview tiles
// and charts are drawn with the seeded data, opens a conference from the list and checks its
// quality timeline per participant, and saves screenshots.
//
// Run with `npm run test:browser`. Environment: CALLSCOPE_BIN (default: the workspace's debug
// build), CHROMIUM (default /usr/bin/chromium), DASHBOARD_ARTIFACTS (where the screenshots go;
// default test-browser/artifacts, which is gitignored).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, COMMAND_TIMEOUT_MS, addApp, addQueryKey, checkTools, here, launchChromium, sleep, startUp } from './harness.mjs';

const ARTIFACTS = process.env.DASHBOARD_ARTIFACTS || path.join(here, 'artifacts');

const APP_ID = '654321';
const CONFERENCES = 6;
const PARTICIPANTS = 3;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callscope-dashboard-'));
let up;
let queryURL;
let queryKey;
let context;
let page;
let seeded;

async function api(pathAndQuery) {
  const r = await fetch(queryURL + pathAndQuery, { headers: { Authorization: `Bearer ${queryKey}` } });
  if (!r.ok) assert.fail(`${pathAndQuery}: ${r.status} ${await r.text()}`);
  return r.json();
}

/**
 * Pixels of each uPlot canvas under `selector` that carry a series colour: chromatic blue (the
 * first series' stroke #2563eb and the bars' fill), red (#d92d20, the second series) or green
 * (#079455). Grid lines and axis text are grey or black, so a chart without data has none.
 */
function seriesPixels(selector) {
  return page.evaluate((sel) => {
    return [...document.querySelectorAll(sel)].map((root) => {
      const title = root.closest('.card')?.querySelector('h2')?.textContent ?? '';
      const counts = { blue: 0, red: 0, green: 0 };
      for (const canvas of root.querySelectorAll('canvas')) {
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a < 100) continue;
          if (b > 180 && b - r > 60 && b - g > 25) counts.blue++;
          else if (r > 170 && r - g > 100 && r - b > 100) counts.red++;
          else if (g > 110 && g - r > 80 && g - b > 30) counts.green++;
        }
      }
      return { title, ...counts };
    });
  }, selector);
}

before(async () => {
  checkTools();
  const dataDir = path.join(tmp, 'data');
  const appSecret = addApp(dataDir, APP_ID, 'dashboard');
  queryKey = addQueryKey(dataDir, APP_ID);
  up = await startUp(dataDir, {
    CALLSCOPE__PROCESSOR__FLUSH_INTERVAL_MS: '500',
    // Simulated calls are sent faster than real time: close them soon after the last event.
    CALLSCOPE__PROCESSOR__CLOSE_GRACE_MS: '1000',
    CALLSCOPE__PROCESSOR__CONFERENCE_TIMEOUT_MS: '3000',
    CALLSCOPE__QUERY__LIMITS__CACHE_TTL_MS: '0',
  });
  const { ingestURL } = up;
  queryURL = up.queryURL;

  // Seed: simulated calls through the public ingest API, then wait until the processor has
  // closed and flushed every one of them (a conferences row each, visible to the query API).
  execFileSync(
    BIN,
    [
      'simulate', '--url', ingestURL, '--app-id', APP_ID, '--app-secret', appSecret,
      '--conferences', String(CONFERENCES), '--participants', String(PARTICIPANTS),
      '--duration', '40', '--stats-interval', '5', '--concurrency', '3',
      '--profiles', 'good,lossy,relayed,failing-setup', '--quiet',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' },
  );
  for (let i = 0; ; i++) {
    const list = await api('/api/v1/conferences?from=-1h&limit=50');
    if (list.conferences.length >= CONFERENCES) break;
    if (i > 300) throw new Error(`only ${list.conferences.length} conferences in the lake:\n${up.log().slice(-3000)}`);
    await sleep(200);
  }
  seeded = await api('/api/v1/overview?from=-24h');

  mkdirSync(ARTIFACTS, { recursive: true });
  context = await launchChromium(path.join(tmp, 'profile'), { viewport: { width: 1400, height: 1000 } });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => m.type() == 'error' && console.log('[page]', m.text()));
  page.on('pageerror', (e) => console.log('[page error]', e));
});

after(async () => {
  await context?.close();
  await up?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('the seeded lake holds the simulated calls', () => {
  const t = seeded.totals;
  assert.equal(t.conferences, CONFERENCES);
  assert.equal(t.participants, CONFERENCES * PARTICIPANTS);
  // A full mesh of 3 has 3 × 2 directed PeerConnections per call.
  assert.equal(t.fabrics, CONFERENCES * PARTICIPANTS * (PARTICIPANTS - 1));
  assert.ok(t.mean_mos > 1 && t.mean_mos <= 4.5, `mean MOS ${t.mean_mos}`);
  assert.ok(t.setup_failed + t.setup_partial > 0, 'the failing-setup profile shows');
});

test('sign in with the query key: overview tiles and charts drawn with data', async () => {
  await page.goto(queryURL + '/');
  await page.locator('#signin').waitFor({ state: 'visible' });
  // A wrong key is refused and leaves the page signed out.
  await page.fill('#key', 'csq_not-a-key');
  await page.click('#signin-form button[type=submit]');
  await page.locator('#signin-error').filter({ hasText: 'Sign-in failed' }).waitFor();
  await page.fill('#key', queryKey);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#who').filter({ hasText: `app ${APP_ID}` }).waitFor();
  await page.locator('#status').filter({ hasText: 'Updated' }).waitFor({ timeout: 30_000 });

  const shot = path.join(ARTIFACTS, 'dashboard-overview.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000);

  const tiles = Object.fromEntries(
    await page.$$eval('.tile', (ts) => ts.map((t) => [t.querySelector('.label').textContent, t.querySelector('.value').textContent])),
  );
  assert.equal(tiles['Conferences'], String(CONFERENCES));
  assert.equal(tiles['Participants'], String(CONFERENCES * PARTICIPANTS));
  assert.equal(tiles['Mean MOS'], seeded.totals.mean_mos.toFixed(2));

  // Five time series and six breakdowns, each a uPlot chart.
  const charts = await seriesPixels('.card .uplot');
  const titles = charts.map((c) => c.title);
  for (const t of ['Conferences and participants', 'Setup delay (ms)', 'Quality', 'Browsers (users)', 'Relay type (set-up connections)']) {
    assert.ok(titles.includes(t), `no chart "${t}" in ${JSON.stringify(titles)}`);
  }
  const byTitle = Object.fromEntries(charts.map((c) => [c.title, c]));
  // Line charts: the first series (blue) has points; conferences/participants also the second (red).
  for (const t of ['Conferences and participants', 'Setup outcome (share of conferences)', 'Setup delay (ms)', 'Quality', 'Feedback (1–5)']) {
    assert.ok(byTitle[t]?.blue > 5, `${t}: no data drawn ${JSON.stringify(byTitle[t])}`);
  }
  assert.ok(byTitle['Conferences and participants'].red > 5, 'participants series not drawn');
  assert.ok(byTitle['Setup delay (ms)'].red > 5, 'p95 series not drawn');
  // Mean MOS (blue) and video score (red) share the 1–5 scale: both visible, neither hides the other.
  assert.ok(byTitle['Quality'].red > 5, 'video score series not drawn');
  // Bar charts of the user and connection breakdowns have bars.
  for (const t of ['Browsers (users)', 'Operating systems (users)', 'Relay type (set-up connections)']) {
    assert.ok(byTitle[t]?.blue > 200, `${t}: no bars ${JSON.stringify(byTitle[t])}`);
  }
});

test('open a conference from the list: quality timeline per participant', async () => {
  await page.click('nav a[data-page=conferences]');
  await page.locator('.card table tbody tr.link').first().waitFor();
  const rows = await page.$$eval('.card table tbody tr.link', (trs) => trs.map((tr) => tr.cells[0].textContent));
  assert.equal(rows.length, CONFERENCES);
  // The newest conference with quality data (the list is most recent first).
  const list = await api('/api/v1/conferences?from=-24h&limit=50');
  const pick = list.conferences.find((c) => c.mean_mos !== null);
  assert.ok(pick, 'a conference with a MOS');
  const detail = await api('/api/v1/conferences/' + encodeURIComponent(pick.conference_id));
  await page.locator('.card table tbody tr.link', { hasText: pick.conference_id }).click();
  await page.locator('h1').filter({ hasText: 'Conference ' + pick.conference_id }).waitFor();
  await page.locator('#status').filter({ hasText: 'Updated' }).waitFor({ timeout: 30_000 });

  const timelines = await seriesPixels('.card .uplot');
  const perUser = timelines.filter((c) => c.title.startsWith('Quality received by '));
  assert.deepEqual(
    perUser.map((c) => c.title.slice('Quality received by '.length)).sort(),
    detail.quality_timeline.map((s) => s.user_id).sort(),
  );
  assert.equal(perUser.length, PARTICIPANTS, 'every participant reported quality');
  for (const c of perUser) assert.ok(c.blue > 5, `${c.title}: no MOS drawn ${JSON.stringify(c)}`);

  // The tables show the participants and their connections.
  const tableText = await page.$$eval('.card', (cards) => Object.fromEntries(cards.map((c) => [c.querySelector('h2').textContent, c.textContent])));
  for (const p of detail.participants) assert.ok(tableText['Participants'].includes(p.user_id), p.user_id);
  for (const f of detail.fabrics) assert.ok(tableText['Connections'].includes(f.connection_id), f.connection_id);
  // Each participant's row gives the bitrates of the media the others received from them, per kind,
  // in kbit/s, as the API has them.
  const participantRows = await page.$$eval('.card', (cards) => {
    const card = cards.find((c) => c.querySelector('h2').textContent === 'Participants');
    const heads = [...card.querySelectorAll('thead th')].map((th) => th.textContent);
    return [...card.querySelectorAll('tbody tr')].map((tr) => Object.fromEntries([...tr.cells].map((td, i) => [heads[i], td.textContent])));
  });
  const kbps = (v) => (v === null ? '–' : String(Math.round(v / 1000)));
  let withAudio = 0;
  for (const p of detail.participants) {
    const row = participantRows.find((r) => r.User === p.user_id);
    assert.ok(row, `a row for ${p.user_id}`);
    const shown = (text) => (text === '–' ? '–' : text.replace(/\D/g, ''));
    assert.equal(shown(row['Audio bitrate']), kbps(p.mean_audio_bitrate_bps), `${p.user_id} audio bitrate`);
    assert.equal(shown(row['Video bitrate']), kbps(p.mean_video_bitrate_bps), `${p.user_id} video bitrate`);
    if (p.mean_audio_bitrate_bps !== null) {
      withAudio += 1;
      assert.ok(p.measured_ms > 0, `${p.user_id}: received audio, so measured`);
    }
  }
  assert.ok(withAudio > 0, 'a participant whose audio was received');

  const shot = path.join(ARTIFACTS, 'dashboard-conference.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000);
});

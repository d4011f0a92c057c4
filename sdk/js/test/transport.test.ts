import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoff, LIMITS, Transport } from '../src/transport';
import { fakeServer, fakeTimers, settle } from './helpers';

let reports: [string, string, any][];

function transport(over: Partial<ConstructorParameters<typeof Transport>[0]> = {}) {
  let token = 0;
  const t = new Transport({
    base: 'https://cs.example',
    appID: 'app1',
    token: async () => 'tok' + token,
    cached: () => 'tok' + token,
    invalidate: () => token++,
    report: (s, m, d) => reports.push([s, m, d]),
    flushMs: 5000,
    bufferBytes: 1 << 20,
    ...over,
  });
  return t;
}

const sample = (t: number, n: number) => [
  { id: 'IN', type: 'inbound-rtp', timestamp: t, ssrc: 1, kind: 'video', packetsReceived: n, bytesReceived: n * 1000, codecId: 'C1' },
  { id: 'C1', type: 'codec', timestamp: t, mimeType: 'video/VP8', payloadType: 96 },
];

beforeEach(() => {
  fakeTimers();
  reports = [];
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('backoff', () => {
  it('doubles from 1 s to a 60 s cap, with jitter in [d/2, d]', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 10].map((n) => backoff(n, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000,
    ]);
    expect([0, 1, 2, 6].map((n) => backoff(n, () => 0))).toEqual([500, 1000, 2000, 30000]);
    for (let i = 0; i < 100; i++) {
      const d = backoff(3);
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
});

describe('batching', () => {
  it('sends events of a conference together after the flush interval, in order, with a batchID', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport();
    t.push('conf/1', 'user_joined', { endpointInfo: {} }, 1000);
    t.push('conf/1', 'ssrc_map', { remoteID: 'b', connectionID: 'c', ssrcData: [] }, 1001);
    t.push('other', 'user_joined', {}, 1002);
    await settle(4999);
    expect(srv.batches()).toHaveLength(0);
    await settle(1);
    await settle(1);
    const [b1, b2] = srv.batches();
    expect(b1.url).toBe('https://cs.example/v1/apps/app1/conferences/conf%2F1/batch');
    expect(b1.headers.authorization).toBe('Bearer tok0');
    expect(b1.headers['content-type']).toBe('application/json');
    expect(b1.body.events.map((e: any) => [e.kind, e.timestamp])).toEqual([
      ['user_joined', 1000],
      ['ssrc_map', 1001],
    ]);
    expect(b1.body.batchID).toMatch(/^[0-9a-f]{8}-0-2$/);
    expect(b2.url).toContain('/conferences/other/batch');
    expect(t.q).toHaveLength(0);
  });

  it('sends at once when 50 events wait, and soon for fabric events', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport();
    for (let i = 0; i < LIMITS.eager; i++) t.push('c', 'user_alive', {});
    await settle(1);
    expect(srv.batches()).toHaveLength(1);
    expect(srv.batches()[0].body.events).toHaveLength(50);
    t.push('c', 'fabric_setup', { remoteID: 'r', connectionID: 'x' });
    await settle(250);
    expect(srv.batches()).toHaveLength(2);
  });

  it('keeps batches within 500 events and the byte limit', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport({ bufferBytes: 10 << 20 });
    for (let i = 0; i < 1100; i++) t.push('c', 'user_alive', {});
    const big = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 5; i++) t.push('c', 'app_log', { level: 'info', message: big });
    for (let i = 0; i < 10; i++) await settle(1);
    const sizes = srv.batches().map((b) => b.body.events.length);
    expect(sizes).toEqual([500, 500, 102, 2, 1]);
    for (const b of srv.batches()) expect(new TextEncoder().encode(b.raw).length).toBeLessThanOrEqual(LIMITS.bytes);
    expect(sizes.reduce((a, b) => a + b)).toBe(1105);
  });

  it('has one request in flight at a time', async () => {
    let release!: () => void;
    const srv = fakeServer();
    let inflight = 0;
    let most = 0;
    vi.stubGlobal('fetch', async (url: string, init: any) => {
      inflight++;
      most = Math.max(most, inflight);
      await new Promise<void>((r) => (release = r));
      inflight--;
      return srv.fetch(url, init);
    });
    const t = transport();
    t.push('c', 'fabric_setup', {});
    await settle(200);
    t.push('c', 'fabric_terminated', {});
    await settle(200);
    expect(most).toBe(1);
    release();
    await settle(5000);
    release();
    await settle();
    expect(srv.events().map((e) => e.kind)).toEqual(['fabric_setup', 'fabric_terminated']);
  });
});

describe('retries', () => {
  it('retries 503 and network errors with exponential backoff, honouring Retry-After', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const srv = fakeServer({
      batchReplies: ['network', { status: 503, headers: { 'retry-after': '10' } }, { status: 429 }, { status: 500 }],
    });
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport();
    t.push('c', 'fabric_setup', {});
    const at: number[] = [];
    const start = Date.now();
    srv.fetch.mockImplementation(((orig) => (u: string, i: any) => (at.push(Date.now() - start), orig(u, i)))(srv.fetch.getMockImplementation()!));
    for (let i = 0; i < 40; i++) await settle(1000);
    // 200 ms urgency, then backoff 1 s, max(10 s Retry-After, 2 s), 4 s, 8 s.
    expect(at).toEqual([200, 1200, 11200, 15200, 23200]);
    expect(srv.batches().map((b) => b.body.batchID)).toEqual(Array(5).fill(srv.batches()[0].body.batchID));
    expect(t.q).toHaveLength(0);
    expect(reports.filter(([s]) => s == 'httpError')).toHaveLength(4);
    expect(reports.at(-1)![0]).toBe('success');
  });

  it('re-authenticates on 401 and resends', async () => {
    const srv = fakeServer({ batchReplies: [{ status: 401 }] });
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport();
    t.push('c', 'feedback', { feedback: { overallRating: 3 } });
    await settle(200);
    await settle(1);
    expect(srv.batches().map((b) => b.headers.authorization)).toEqual(['Bearer tok0', 'Bearer tok1']);
    expect(t.q).toHaveLength(0);
  });

  it('drops only the event a 422 names, reports it, and sends the rest', async () => {
    const srv = fakeServer({
      batchReplies: [{ status: 422, body: { status: 'error', msg: 'events[1].data.x: bad', field: 'events[1].data.x', reason: 'bad' } }],
    });
    vi.stubGlobal('fetch', srv.fetch);
    const done: string[] = [];
    const t = transport();
    t.push('c', 'fabric_created', { a: 1 }, 1, (s) => done.push('a:' + s));
    t.push('c', 'report_error', { b: 2 }, 2, (s) => done.push('b:' + s));
    t.push('c', 'fabric_setup', { c: 3 }, 3, (s) => done.push('c:' + s));
    await settle(200);
    await settle(1);
    expect(srv.batches().map((b) => b.body.events.map((e: any) => e.kind))).toEqual([
      ['fabric_created', 'report_error', 'fabric_setup'],
      ['fabric_created', 'fabric_setup'],
    ]);
    expect(done).toEqual(['b:httpError', 'a:success', 'c:success']);
    expect(reports[0]).toEqual([
      'httpError',
      'batch refused (422): events[1].data.x: bad',
      { status: 422, field: 'events[1].data.x', reason: 'bad', dropped: ['report_error'] },
    ]);
  });

  it('drops a batch refused with 413 and never retries it', async () => {
    const srv = fakeServer({ batchReplies: [{ status: 413, body: { status: 'error', msg: 'request body exceeds 1 bytes' } }] });
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport();
    t.push('c', 'fabric_setup', {});
    t.push('c', 'user_alive', {});
    await settle(200);
    await settle(60000);
    expect(srv.batches()).toHaveLength(1);
    expect(t.q).toHaveLength(0);
    expect(reports[0][2]).toMatchObject({ status: 413, dropped: ['fabric_setup', 'user_alive'] });
  });

  it('stops for good when authentication fails for good', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport({ token: () => Promise.reject({ status: 'authError', msg: 'bad secret', retry: false }) });
    const done: string[] = [];
    t.push('c', 'fabric_setup', {}, 1, (s) => done.push(s));
    await settle(200);
    expect(t.stopped).toBe(true);
    expect(done).toEqual(['authError']);
    t.push('c', 'fabric_setup', {}, 1, (s) => done.push(s));
    expect(t.q).toHaveLength(0);
    expect(srv.batches()).toHaveLength(0);
  });
});

describe('stats samples and the buffer cap', () => {
  it('sends full reports although the queue keeps deltas, without certificate DER', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const t = transport();
    const h = { remoteID: 'bob', connectionID: 'pc1' };
    t.pushStats('c', h, sample(1000, 10), 1000);
    t.pushStats('c', h, sample(2000, 20), 2000);
    // The second sample is queued as a delta: only the counters and timestamps changed.
    expect(t.q[1].s!.u).toEqual({
      IN: { id: 'IN', type: 'inbound-rtp', timestamp: 2000, packetsReceived: 20, bytesReceived: 20000 },
      C1: { id: 'C1', type: 'codec', timestamp: 2000 },
    });
    await settle(5000);
    t.pushStats('c', h, sample(3000, 30), 3000);
    await settle(5000);
    const sent = srv.events().map((e) => e.data);
    expect(sent).toEqual([
      { ...h, stats: sample(1000, 10) },
      { ...h, stats: sample(2000, 20) },
      { ...h, stats: sample(3000, 30) },
    ]);
  });

  it('drops the oldest stats first, never fabric events, counts the drops, and keeps later samples exact', async () => {
    vi.stubGlobal('fetch', fakeServer().fetch);
    vi.stubGlobal('navigator', { onLine: false });
    const t = transport({ bufferBytes: 3000 });
    const h = { remoteID: 'bob', connectionID: 'pc1' };
    t.push('c', 'fabric_created', { remoteID: 'bob', connectionID: 'pc1', fabricUsage: 'audio', pad: 'x'.repeat(1500) });
    for (let i = 1; i <= 30; i++) t.pushStats('c', h, sample(i * 1000, i * 10), i * 1000);
    t.push('c', 'fabric_terminated', { remoteID: 'bob', connectionID: 'pc1' });
    expect(t.size).toBeLessThanOrEqual(3000);
    expect(t.dropped).toBeGreaterThan(0);
    const kinds = t.q.map((e) => e.k);
    expect(kinds[0]).toBe('fabric_created');
    expect(kinds.at(-1)).toBe('fabric_terminated');
    const kept = t.q.filter((e) => e.s).map((e) => e.t);
    expect(kept.at(-1)).toBe(30000);
    expect(kept.length + t.dropped).toBe(30);
    expect(reports.some(([s, m, d]) => s == 'httpError' && /dropped/.test(m) && d.dropped > 0)).toBe(true);

    // Back online: what is left is sent, each sample whole and exact.
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    vi.stubGlobal('navigator', { onLine: true });
    t.flush();
    await settle(1);
    await settle(1);
    const sent = srv.events().filter((e) => e.kind == 'stats_sample');
    expect(sent.map((e) => e.timestamp)).toEqual(kept);
    for (const e of sent) expect(e.data.stats).toEqual(sample(e.timestamp, e.timestamp / 100));
  });

  it('keeps fabric events beyond the cap rather than dropping them', () => {
    vi.stubGlobal('navigator', { onLine: false });
    const t = transport({ bufferBytes: 100 });
    for (let i = 0; i < 10; i++) t.push('c', 'fabric_setup', { remoteID: 'r', connectionID: 'c' + i });
    t.push('c', 'user_alive', {});
    expect(t.q.map((e) => e.k)).toEqual(Array(10).fill('fabric_setup'));
  });

  it('folds a sample dropped while later ones are queued, and one dropped as the last into the next poll', async () => {
    vi.stubGlobal('navigator', { onLine: false });
    const t = transport({ bufferBytes: 1 << 20 });
    const h = { remoteID: 'bob', connectionID: 'pc1' };
    t.pushStats('c', h, sample(1000, 10), 1000);
    t.pushStats('c', h, sample(2000, 20), 2000);
    // Drop sample 2 as the refusal path does, then poll again.
    (t as any).drop(t.q[1]);
    t.pushStats('c', h, [{ ...sample(3000, 30)[0], codecId: 'C1' }, sample(3000, 30)[1]], 3000);
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    vi.stubGlobal('navigator', { onLine: true });
    t.flush();
    await settle(1);
    expect(srv.events().map((e) => e.data.stats)).toEqual([sample(1000, 10), sample(3000, 30)]);
  });
});

describe('sendBeacon on unload', () => {
  it('hands the queue to sendBeacon with the token in the query, as text/plain', async () => {
    const sent: [string, Blob][] = [];
    vi.stubGlobal('navigator', { onLine: true, sendBeacon: (u: string, b: Blob) => (sent.push([u, b]), true) });
    const t = transport();
    t.push('c1', 'fabric_terminated', { remoteID: 'r', connectionID: 'x', reason: 'pagehide' });
    t.push('c2', 'user_left', {});
    t.pushStats('c1', { remoteID: 'r', connectionID: 'x' }, sample(1, 1), 1);
    t.beacon();
    expect(sent.map(([u]) => u)).toEqual([
      'https://cs.example/v1/apps/app1/conferences/c1/batch?access_token=tok0',
      'https://cs.example/v1/apps/app1/conferences/c2/batch?access_token=tok0',
    ]);
    expect(sent[0][1].type).toBe('text/plain');
    const body = JSON.parse(await sent[0][1].text());
    expect(body.events.map((e: any) => e.kind)).toEqual(['fabric_terminated', 'stats_sample']);
    expect(t.q).toHaveLength(0);
  });

  it('stays within the beacon quota, keeping small events over large samples', async () => {
    const sent: Blob[] = [];
    vi.stubGlobal('navigator', { onLine: true, sendBeacon: (_: string, b: Blob) => (sent.push(b), true) });
    const t = transport();
    const big = Array.from({ length: 400 }, (_, i) => ({ id: 'R' + i, type: 'codec', timestamp: 1, mimeType: 'video/VP8'.repeat(3) }));
    for (let i = 0; i < 3; i++) t.pushStats('c', { remoteID: 'r', connectionID: 'x' }, big.map((r) => ({ ...r, timestamp: i })), i);
    t.push('c', 'fabric_terminated', { remoteID: 'r', connectionID: 'x' });
    t.beacon();
    const total = sent.reduce((n, b) => n + b.size, 0);
    expect(total).toBeLessThanOrEqual(LIMITS.beacon);
    const kinds = JSON.parse(await sent[0].text()).events.map((e: any) => e.kind);
    expect(kinds).toContain('fabric_terminated');
  });
});

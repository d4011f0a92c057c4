// Test doubles: a scriptable ingest (fetch stub) and a fake RTCPeerConnection.

import { vi } from 'vitest';

export interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: any;
  raw: string;
}

type Reply = { status: number; body?: any; headers?: Record<string, string> } | 'network';

/**
 * A fake ingest: answers the handshake (checking the HMAC against `secret`), the third-party
 * exchange and batches. `batchReplies` are used in order for batch requests, then 200.
 */
export function fakeServer(opts: { secret?: string; batchReplies?: Reply[]; authReplies?: Reply[] } = {}) {
  const calls: Call[] = [];
  const batchReplies = [...(opts.batchReplies || [])];
  const authReplies = [...(opts.authReplies || [])];
  let tokens = 0;
  const fetch = vi.fn(async (url: string, init: any = {}) => {
    const raw = String(init.body ?? '');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(init.headers || {})) headers[k.toLowerCase()] = String(v);
    let body: any = raw;
    try {
      body = JSON.parse(raw);
    } catch {
      /* form or text */
    }
    calls.push({ url, method: init.method || 'GET', headers, body, raw });
    const reply = (r: Reply | undefined, dflt: () => Reply): Response => {
      const x = r ?? dflt();
      if (x == 'network') throw new TypeError('Failed to fetch');
      return new Response(x.body === undefined ? '' : JSON.stringify(x.body), {
        status: x.status,
        headers: { 'content-type': 'application/json', ...x.headers },
      });
    };
    const path = new URL(url).pathname;
    if (path == '/v1/auth/challenge') return reply(authReplies.shift(), () => ({ status: 200, body: { challenge: 'ch-' + calls.length, expiresIn: 30 } }));
    if (path == '/v1/auth/response') {
      const { createHmac } = await import('node:crypto');
      const want = createHmac('sha256', opts.secret || 'secret').update(body.challenge).digest('hex');
      if (body.response != want) return reply(undefined, () => ({ status: 401, body: { status: 'error', msg: 'challenge response does not match' } }));
      return reply(authReplies.shift(), () => ({
        status: 200,
        body: { access_token: 'tok' + ++tokens, token_type: 'bearer', expires_in: 7200 },
      }));
    }
    if (path == '/authenticate')
      return reply(authReplies.shift(), () => ({
        status: 200,
        body: { access_token: 'tok' + ++tokens, token_type: 'bearer', expires_in: 7200 },
      }));
    if (path.endsWith('/batch')) return reply(batchReplies.shift(), () => ({ status: 200, body: { status: 'success', msg: 'ok', ucID: 'uc' } }));
    return reply(undefined, () => ({ status: 404 }));
  });
  const batches = () => calls.filter((c) => c.url.includes('/batch'));
  const events = () => batches().flatMap((c) => c.body.events) as { kind: string; timestamp: number; data: any }[];
  return { fetch, calls, batches, events };
}

/** An RTCPeerConnection with settable states and getStats reports. */
export class FakePC extends EventTarget {
  signalingState = 'stable';
  iceGatheringState = 'new';
  iceConnectionState = 'new';
  connectionState = 'new';
  reports: Record<string, any>[] = [];
  closed = 0;

  async getStats(): Promise<Map<string, any>> {
    return new Map(this.reports.map((r) => [r.id, { ...r }]));
  }

  close(): void {
    this.closed++;
    this.signalingState = 'closed';
    this.iceConnectionState = 'closed';
    this.connectionState = 'closed';
  }

  /** Changes a state and fires its event, as the browser does. */
  set(state: string, value: string): void {
    (this as any)[state] = value;
    this.dispatchEvent(new Event(state.toLowerCase() + 'change'));
  }
}

/** getStats reports of a connected audio call at time `t` (ms) with `n` packets so far. */
export function rtpReports(t: number, n: number, extra: Record<string, any> = {}): Record<string, any>[] {
  return [
    { id: 'T01', type: 'transport', timestamp: t, selectedCandidatePairId: 'CP1' },
    { id: 'CP1', type: 'candidate-pair', timestamp: t, localCandidateId: 'L1', remoteCandidateId: 'R1', state: 'succeeded', nominated: true, currentRoundTripTime: 0.02 },
    { id: 'L1', type: 'local-candidate', timestamp: t, candidateType: 'host', address: '10.0.0.1', port: 5000, protocol: 'udp' },
    { id: 'R1', type: 'remote-candidate', timestamp: t, candidateType: 'srflx', address: '192.0.2.1', port: 6000, protocol: 'udp' },
    { id: 'CERT', type: 'certificate', timestamp: t, fingerprint: 'AB:CD', base64Certificate: 'MIIB'.repeat(100) },
    {
      id: 'IN1', type: 'inbound-rtp', timestamp: t, ssrc: 1111, kind: 'audio', packetsReceived: n, bytesReceived: n * 100,
      packetsLost: 0, jitter: 0.005, audioLevel: 0.1, ...extra,
    },
    { id: 'OUT1', type: 'outbound-rtp', timestamp: t, ssrc: 2222, kind: 'audio', packetsSent: n, bytesSent: n * 100, remoteId: 'RIN1', mediaSourceId: 'MS1' },
    { id: 'RIN1', type: 'remote-inbound-rtp', timestamp: t, ssrc: 2222, kind: 'audio', packetsLost: 0, fractionLost: 0, jitter: 0.004, roundTripTime: 0.03 },
    { id: 'MS1', type: 'media-source', timestamp: t, kind: 'audio', audioLevel: 0.2 },
  ];
}

/** Fake clocks for the SDK's timers, leaving setImmediate real (WebCrypto completes on it). */
export const fakeTimers = () =>
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });

const realTimeout = globalThis.setTimeout;

/** Waits real time: lets work off the JS thread (WebCrypto) finish. */
export const realSleep = (ms: number) => new Promise((r) => realTimeout(r, ms));

/** Lets pending work finish (promises, WebCrypto), then advances the fake clock by `ms`. */
export async function settle(ms = 0): Promise<void> {
  const turn = () => new Promise((r) => setImmediate(r));
  for (let i = 0; i < 5; i++) await turn();
  await realSleep(3);
  for (let i = 0; i < 5; i++) await turn();
  if (ms) await vi.advanceTimersByTimeAsync(ms);
  for (let i = 0; i < 5; i++) await turn();
  await realSleep(3);
  for (let i = 0; i < 5; i++) await turn();
}

// The send queue: batching, retries with exponential backoff and jitter, re-authentication, an
// offline buffer with a size cap, and the sendBeacon flush on unload.
//
// Guarantees (docs/sdk.md, "Delivery"):
// - events of one conference are sent in the order they were queued, one request at a time;
// - a batch is retried (same batchID) on network errors, 401 (after re-authenticating), 408, 429
//   and 5xx, waiting at least Retry-After; nothing refused by a verdict (400, 403, 404, 413, 422)
//   is retried: a 422 naming `events[i]` drops that event only, any other drops the batch, and
//   the drop is reported through on('error');
// - when the buffer passes its cap, the oldest stats samples are dropped first (their counters
//   folded into the next sample so later samples stay exact), then user_alive; fabric and other
//   events are never dropped. Drops are counted (`dropped`) and reported.

import type { CsStatus } from './enums';
import { AuthFailure, retryAfter } from './auth';
import { apply, compose, encode, Report, State, Update } from './delta';
import { bytes, now, randomId } from './util';

export type Done = (status: CsStatus, msg: string) => void;

interface Sample {
  /** remoteID, connectionID, wifiStats. */
  h: Record<string, any>;
  u: Update;
  /** The ids of the sample's reports, in order. */
  i: string[];
}

export interface Entry {
  /** Sequence number. */
  q: number;
  /** conferenceID. */
  c: string;
  /** kind. */
  k: string;
  /** Client timestamp, ms. */
  t: number;
  d?: any;
  s?: Sample;
  /** Size estimate, bytes. */
  n: number;
  cb?: Done;
}

interface Batch {
  conf: string;
  e: Entry[];
  body: string;
  url: string;
  size: number;
  scratch: Record<string, State>;
  /** Cut short by the limits: more is waiting. */
  full?: boolean;
}

export interface TransportOptions {
  base: string;
  appID: string;
  /** A valid token; rejects with an AuthFailure. */
  token(): Promise<string>;
  /** The last token, without authenticating (for the unload beacon). */
  cached(): string | undefined;
  /** The server said the token is no longer valid. */
  invalidate(): void;
  /** Every outcome worth telling the application: success after failures, and each failure. */
  report(status: CsStatus, msg: string, detail?: Record<string, unknown>): void;
  /** Flush this long after the first queued event, ms. */
  flushMs: number;
  /** Buffer cap, bytes. */
  bufferBytes: number;
}

export const LIMITS = {
  /** Events per batch (ingest max_batch_items is 500). */
  events: 500,
  /** Batch body, bytes: half of ingest's smallest documented body limit (512 KiB). */
  bytes: 256 * 1024,
  /** Send as soon as this many events wait. */
  eager: 50,
  /** What sendBeacon may carry in all (browsers allow 64 KiB of keepalive data). */
  beacon: 60000,
};

/** Kinds that should reach the server within a fraction of a second. */
const URGENT = ['fabric_setup', 'fabric_setup_failed', 'fabric_terminated', 'fabric_dropped', 'feedback', 'report_error'];

/** Delay before retry `attempt` (0-based): exponential from 1 s, capped at 60 s, "equal jitter". */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(60000, 1000 * 2 ** attempt);
  return cap / 2 + (random() * cap) / 2;
}

export class Transport {
  q: Entry[] = [];
  /** Bytes held by the queue (estimate). */
  size = 0;
  /** Stats samples dropped by the buffer cap, since the start. */
  dropped = 0;
  /** Set when authentication failed for good: nothing will be sent. */
  stopped = false;
  private seq = 0;
  private sid = randomId().slice(0, 8);
  /** Per connection: the encoder's state (every polled sample), the sent state, folded drops. */
  private enc: Record<string, State> = {};
  private base: Record<string, State> = {};
  private carry: Record<string, Update> = {};
  private gone = new Set<string>();
  private fly = new Set<Entry>();
  private timer?: ReturnType<typeof setTimeout>;
  private due = Infinity;
  private hold = 0;
  private busy = false;
  private attempt = 0;
  private unauthorized = 0;

  constructor(private o: TransportOptions) {
    if (typeof addEventListener == 'function')
      addEventListener('online', () => {
        this.hold = 0;
        this.schedule(0);
      });
  }

  push(c: string, k: string, d: any, t = now(), cb?: Done): void {
    this.add({ q: 0, c, k, t, d, cb, n: bytes(JSON.stringify(d)) + 40 });
  }

  pushStats(c: string, h: Sample['h'], reports: Report[], t = now()): void {
    const conn = h.connectionID;
    let u = encode((this.enc[conn] ||= {}), reports);
    if (this.carry[conn]) {
      u = compose(this.carry[conn], u);
      delete this.carry[conn];
    }
    this.add({ q: 0, c, k: 'stats_sample', t, s: { h, u, i: reports.map((r) => r.id) }, n: 0 });
  }

  /** The connection ended: its codec state can go once its samples are sent. */
  forget(conn: string): void {
    this.gone.add(conn);
    this.tidy();
  }

  /** Send what is queued now (not waiting for the flush interval). */
  flush(): void {
    this.schedule(0);
  }

  private add(e: Entry): void {
    if (this.stopped) return e.cb?.('authError', 'not authenticated');
    e.q = this.seq++;
    if (e.s) e.n = JSON.stringify(e.s.u).length + 60;
    this.q.push(e);
    this.size += e.n;
    this.cap();
    this.schedule(URGENT.includes(e.k) ? 200 : this.q.length >= LIMITS.eager ? 0 : this.o.flushMs);
  }

  private cap(): void {
    let n = 0;
    while (this.size > this.o.bufferBytes) {
      const free = (x: Entry) => !this.fly.has(x);
      const e = this.q.find((x) => x.s && free(x)) || this.q.find((x) => x.k == 'user_alive' && free(x));
      if (!e) break;
      if (e.s) n++;
      this.drop(e);
    }
    if (n) {
      this.dropped += n;
      this.o.report('httpError', `send buffer full: dropped ${n} stats sample(s), ${this.dropped} in all`, {
        dropped: this.dropped,
      });
    }
  }

  /** Removes an entry unsent; a stats sample's update is folded into the next one. */
  private drop(e: Entry): void {
    this.q = this.q.filter((x) => x != e);
    this.size -= e.n;
    if (!e.s) return;
    const conn = e.s.h.connectionID;
    const next = this.q.find((x) => x.q > e.q && x.s?.h.connectionID == conn);
    if (next?.s) {
      next.s.u = compose(e.s.u, next.s.u);
      const n = JSON.stringify(next.s.u).length + 60;
      this.size += n - next.n;
      next.n = n;
    } else this.carry[conn] = compose(this.carry[conn] || {}, e.s.u);
  }

  private tidy(): void {
    for (const conn of this.gone)
      if (!this.q.some((x) => x.s?.h.connectionID == conn)) {
        delete this.enc[conn];
        delete this.base[conn];
        delete this.carry[conn];
        this.gone.delete(conn);
      }
  }

  private schedule(ms: number): void {
    const at = Math.max(now() + ms, this.hold);
    if (this.timer !== undefined && this.due <= at) return;
    clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = Infinity;
      this.run();
    }, at - now());
  }

  private async run(): Promise<void> {
    if (this.busy || this.stopped || !this.q.length) return;
    // Offline: wait for the 'online' event instead of burning retries.
    if (typeof navigator == 'object' && navigator.onLine === false) return;
    this.busy = true;
    const wait = await this.send();
    this.busy = false;
    if (wait >= 0 && this.q.length) this.schedule(wait);
  }

  /** One attempt; returns how long to wait before the next one (-1: until something is queued). */
  private async send(): Promise<number> {
    let token: string;
    try {
      token = await this.o.token();
    } catch (err) {
      const f = err as AuthFailure;
      this.o.report(f.status || 'authError', f.msg || String(err));
      if (f.retry) return this.retry(f.after);
      this.stopped = true;
      for (const e of this.q) e.cb?.(f.status, f.msg);
      this.q = [];
      this.size = 0;
      return -1;
    }
    const b = this.build(LIMITS.bytes);
    if (!b.e.length) return -1;
    b.e.forEach((e) => this.fly.add(e));
    let r: Response;
    try {
      r = await fetch(b.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
        body: b.body,
      });
    } catch (err) {
      this.fly.clear();
      this.o.report('httpError', `cannot reach ${this.o.base}: ${err}`);
      return this.retry();
    }
    this.fly.clear();
    const s = r.status;
    if (r.ok) {
      this.commit(b);
      this.attempt = this.unauthorized = this.hold = 0;
      this.o.report('success', `${b.e.length} events sent`);
      // A backlog (more than one batch, or after an outage) goes on at once.
      return b.full || this.q.length >= LIMITS.eager || now() - (this.q[0]?.t ?? now()) >= this.o.flushMs
        ? 0
        : this.o.flushMs;
    }
    if (s == 401 && this.unauthorized++ < 3) {
      this.o.invalidate();
      return 0;
    }
    if (s == 401 || s == 408 || s == 429 || s >= 500) {
      this.o.report('httpError', `batch not accepted (${s}), will retry`, { status: s });
      return this.retry(retryAfter(r));
    }
    // A verdict on the content: drop what was refused, never retry it.
    let j: any = {};
    try {
      j = await r.json();
    } catch {
      /* no JSON body */
    }
    const m = /^events\[(\d+)\]/.exec(j.field || '');
    const bad = s == 422 && m && b.e[+m[1]] ? [b.e[+m[1]]] : b.e;
    const msg = `batch refused (${s}): ${j.msg || r.statusText}`;
    for (const e of bad) {
      this.drop(e);
      e.cb?.('httpError', msg);
    }
    this.tidy();
    this.o.report('httpError', msg, { status: s, field: j.field, reason: j.reason, dropped: bad.map((e) => e.k) });
    return 0;
  }

  /** Backs off: no attempt before max(Retry-After, backoff(attempt)). */
  private retry(after = 0): number {
    const ms = Math.max(after, backoff(this.attempt++));
    this.hold = now() + ms;
    return ms;
  }

  /**
   * The next batch: queued events of one conference, in order, expanded (stats samples) and
   * serialized, up to LIMITS.events and `max` bytes. A beacon batch skips what does not fit
   * instead of stopping, so small fabric events get through after a large sample.
   */
  private build(max: number, conf?: string, beacon = false): Batch {
    const scratch: Record<string, State> = {};
    const e: Entry[] = [];
    const parts: string[] = [];
    const blocked = new Set<string>();
    let size = 30;
    let full = false;
    for (const x of this.q) {
      if (this.fly.has(x) || (conf ??= x.c) != x.c) continue;
      let d = x.d;
      let next: State | undefined;
      const conn = x.s?.h.connectionID;
      if (x.s) {
        if (blocked.has(conn)) continue;
        const st = (scratch[conn] ||= { ...this.base[conn] });
        const n = (next = apply(st, x.s.u));
        d = { ...x.s.h, stats: x.s.i.map((id) => n[id]) };
      }
      const js = JSON.stringify({ kind: x.k, timestamp: x.t, data: d });
      const n = bytes(js) + 1;
      if ((e.length || beacon) && (e.length >= LIMITS.events || size + n > max)) {
        full = true;
        if (!beacon) break;
        if (conn) blocked.add(conn);
        continue;
      }
      if (next) Object.assign(scratch[conn], next);
      e.push(x);
      parts.push(js);
      size += n;
    }
    const id = e.length ? `${this.sid}-${e[0].q}-${e.length}` : '';
    return {
      conf: conf || '',
      e,
      size,
      full,
      scratch,
      url: `${this.o.base}/v1/apps/${encodeURIComponent(this.o.appID)}/conferences/${encodeURIComponent(conf || '')}/batch`,
      body: `{"batchID":"${id}","events":[${parts.join(',')}]}`,
    };
  }

  private commit(b: Batch): void {
    const sent = new Set(b.e);
    this.q = this.q.filter((x) => !sent.has(x));
    for (const x of b.e) {
      this.size -= x.n;
      x.cb?.('success', x.k + ' sent');
    }
    Object.assign(this.base, b.scratch);
    this.tidy();
  }

  /** Unload: hand what is queued to navigator.sendBeacon (the token travels as access_token). */
  beacon(): void {
    const token = this.o.cached();
    if (!token || typeof navigator != 'object' || !navigator.sendBeacon) return;
    let budget = LIMITS.beacon;
    for (const conf of new Set(this.q.filter((x) => !this.fly.has(x)).map((x) => x.c))) {
      const b = this.build(budget, conf, true);
      if (!b.e.length) continue;
      const blob = new Blob([b.body], { type: 'text/plain' });
      if (!navigator.sendBeacon(b.url + '?access_token=' + encodeURIComponent(token), blob)) break;
      this.commit(b);
      budget -= b.size;
    }
  }
}

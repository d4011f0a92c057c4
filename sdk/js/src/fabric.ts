// One monitored PeerConnection ("fabric"): its lifecycle events, generated from the connection's own
// state (fabric_created, fabric_state_change, fabric_setup / fabric_setup_failed, ice_status,
// fabric_transport_change, fabric_dropped, fabric_terminated), getStats polling, and the
// csStatsCallback payload. Event data follows schemas/src/events/*.rs field for field.

import type { Report } from './delta';
import type { Done } from './transport';
import { now, randomId } from './util';

export interface Host {
  push(conf: string, kind: string, data: any, t?: number, cb?: Done): void;
  /** Queue a stats sample of this fabric. */
  sample(f: Fabric, reports: Report[], t: number): void;
  /** Hand a csStatsCallback payload to the application. */
  emit(stats: any): void;
  /** The fabric terminated. */
  end(f: Fabric): void;
  /** getStats period, ms. */
  interval: number;
  /** Whether candidate addresses may be collected (configParams.collectIP). */
  ip: boolean;
}

type Stats = Map<string, Report>;

const STATES = ['signalingState', 'iceGatheringState', 'iceConnectionState', 'connectionState'];
const up = (s?: string): boolean => s == 'connected' || s == 'completed';
const ms = (s?: number): number | undefined => (s == null ? undefined : s * 1000);
const index = (reports: Report[]): Stats => new Map(reports.map((r) => [r.id, r]));

/** The selected candidate pair: transport.selectedCandidatePairId, else the selected/nominated one. */
function selected(by: Stats): Report | undefined {
  for (const r of by.values())
    if (r.type == 'transport' && r.selectedCandidatePairId) return by.get(r.selectedCandidatePairId);
  for (const r of by.values())
    if (r.type == 'candidate-pair' && (r.selected || (r.nominated && r.state == 'succeeded'))) return r;
}

/**
 * Interval quality of a stream from loss, jitter and RTT: the simplified E-model (EL = RTT +
 * 2·jitter + 10 ms; R = 93.2 − EL/40, or 93.2 − (EL − 120)/10 above 160 ms; R −= 2.5 per % lost)
 * banded by the G.107 R categories, as the processor's audio bands (docs/quality.md §4).
 */
export function quality(loss: number, jitter = 0, rtt = 0): string {
  const el = rtt + 2 * jitter + 10;
  const r = (el < 160 ? 93.2 - el / 40 : 93.2 - (el - 120) / 10) - 250 * loss;
  return r >= 90 ? 'excellent' : r >= 80 ? 'good' : r >= 70 ? 'fair' : r >= 60 ? 'poor' : 'bad';
}

export class Fabric {
  id = randomId();
  t0 = now();
  /** Last known value of each state attribute. */
  s: Record<string, string> = {};
  /** Times: gs/ge ICE gathering start/end, ck ICE checking, ic ICE connected, ds disruption start. */
  private ts: Record<string, number> = {};
  ok = false;
  done = false;
  private failed = false;
  private closing = false;
  private timer?: ReturnType<typeof setInterval>;
  private ac = new AbortController();
  /** The previous poll, for interval metrics. */
  prev?: Stats;
  private pair?: Record<string, any>;
  private avg: Record<string, number[]> = {};
  /** associateMstWithUserID() data by SSRC. */
  ssrc: Record<string, { userID: string; usageLabel: string; associatedVideoTag?: string }> = {};

  constructor(
    private h: Host,
    public pc: RTCPeerConnection,
    public conf: string,
    public remote: string,
    private usage: string,
    private attrs: Record<string, string | undefined>,
  ) {}

  get ids(): { remoteID: string; connectionID: string } {
    return { remoteID: this.remote, connectionID: this.id };
  }

  private push(kind: string, data: any, t?: number, cb?: Done): void {
    this.h.push(this.conf, kind, { ...this.ids, ...data }, t, cb);
  }

  start(cb?: Done): void {
    const pc: any = this.pc;
    this.push('fabric_created', { fabricUsage: this.usage, ...this.attrs }, this.t0, cb);
    for (const k of STATES) {
      this.s[k] = pc[k];
      pc.addEventListener(k.toLowerCase() + 'change', () => this.change(k), { signal: this.ac.signal });
    }
    // close() fires no state event: wrap it on this instance, so that termination (with a last
    // sample) is reported at once.
    const close = pc.close;
    pc.close = () => {
      if (this.done || this.closing) return close.call(pc);
      this.closing = true;
      const last: Promise<Report[] | void> = this.ok ? this.collect() : Promise.resolve();
      const t = now();
      close.call(pc);
      const timeout = new Promise<void>((r) => setTimeout(r, 1000));
      Promise.race([last, timeout])
        .then((r) => r && !this.done && this.poll(r), () => {})
        .then(() => this.end('closed', t));
    };
    // Added after it connected: set up now.
    if (this.s.connectionState == 'connected' || (!('connectionState' in pc) && up(this.s.iceConnectionState)))
      this.setup(this.t0);
  }

  private change(k: string): void {
    const pc: any = this.pc;
    const prev = this.s[k];
    const cur: string = pc[k];
    const t = now();
    if (!cur || cur == prev || this.done) return;
    this.s[k] = cur;
    const ts = this.ts;
    this.push('fabric_state_change', { prevState: prev || 'new', newState: cur, changedState: k }, t);
    if (k == 'iceGatheringState') {
      // Gathering again after it completed: an ICE restart.
      if (cur == 'gathering') {
        if (ts.ge) this.ice('iceRestarted', t);
        ts.gs = t;
        delete ts.ge;
      }
      if (cur == 'complete') ts.ge = t;
    }
    if (k == 'iceConnectionState') {
      // The transitions of the callstats REST API's /events/ice/status.
      const ev =
        up(prev) && cur == 'disconnected'
          ? 'iceDisruptionStart'
          : prev == 'disconnected' && up(cur)
            ? 'iceDisruptionEnd'
            : prev == 'checking' && cur == 'disconnected'
              ? 'iceConnectionDisruptionStart'
              : prev == 'disconnected' && cur == 'checking'
                ? 'iceConnectionDisruptionEnd'
                : cur == 'failed'
                  ? 'iceFailed'
                  : cur == 'new' || (cur == 'checking' && up(prev))
                    ? 'iceRestarted'
                    : cur == 'closed'
                      ? prev == 'new' || prev == 'checking'
                        ? 'iceAborted'
                        : 'iceTerminated'
                      : '';
      if (ev) this.ice(ev, t, prev, cur, ev.endsWith('End') ? t - ts.ds : undefined);
      if (cur == 'disconnected') ts.ds = t;
      if (cur == 'checking') ts.ck ||= t;
      if (up(cur)) ts.ic ||= t;
    }
    // connectionState covers ICE and DTLS; browsers without it only have ICE.
    if (k == ('connectionState' in pc ? 'connectionState' : 'iceConnectionState')) {
      if (up(cur)) this.setup(t);
      if (cur == 'failed') this.fail(t);
    }
    if (cur == 'closed') this.end('closed', t);
  }

  private ice(eventType: string, t: number, prev = this.s.iceConnectionState, cur = prev, delay?: number): void {
    this.push('ice_status', { eventType, currIceCandidateState: cur, prevIceCandidateState: prev, delay }, t);
  }

  private async setup(t: number): Promise<void> {
    if (this.ok) return;
    this.ok = true;
    const ts = this.ts;
    const reports = await this.collect().catch(() => [] as Report[]);
    const by = index(reports);
    const p = selected(by);
    this.pair = p && this.pairInfo(p, by);
    this.push(
      'fabric_setup',
      {
        delay: t - this.t0,
        totalSetupDelay: t - this.t0,
        iceGatheringDelay: ts.ge && ts.gs && ts.ge <= t ? ts.ge - ts.gs : undefined,
        iceConnectivityDelay: ts.ic && ts.ck ? ts.ic - ts.ck : undefined,
        dtlsSetupDelay: ts.ic ? t - ts.ic : undefined,
        ...this.attrs,
        selectedCandidatePairID: p?.id,
        selectedCandidatePair: this.pair,
      },
      t,
    );
    if (this.done) return;
    // That getStats is the first sample: the baseline of the first interval.
    this.poll(reports);
    this.timer = setInterval(() => this.poll(), this.h.interval);
  }

  private async fail(t: number): Promise<void> {
    const established = this.ok;
    if (!established && this.failed) return;
    this.failed = true;
    const s = this.s;
    const ts = this.ts;
    const by = index(await this.collect().catch(() => []));
    if (established) {
      // An established connection failed for good: the "dropped call".
      const p = selected(by);
      return this.push(
        'fabric_dropped',
        {
          currIceCandidatePair: p ? this.pairInfo(p, by) : this.pair,
          currIceConnectionState: s.iceConnectionState,
        },
        t,
      );
    }
    const reason = up(s.iceConnectionState) ? 'TransportFailure' : 'IceConnectionFailure';
    const candidates = (side: string) =>
      [...by.values()]
        .filter((r) => r.type == side + '-candidate')
        .slice(0, 50)
        .map((c) => this.candidate(c, side));
    this.push(
      'fabric_setup_failed',
      {
        reason,
        name: reason,
        message: `connection failed (iceConnectionState ${s.iceConnectionState}, connectionState ${s.connectionState})`,
        delay: t - this.t0,
        iceGatheringDelay: ts.ge && ts.gs ? ts.ge - ts.gs : undefined,
        iceConnectivityDelay: ts.ck ? t - ts.ck : undefined,
        localCandidates: candidates('local'),
        remoteCandidates: candidates('remote'),
        ...this.attrs,
      },
      t,
    );
  }

  /** A candidate-pair report in the schemas' IceCandidatePair shape. */
  private pairInfo(p: Report, by: Stats): Record<string, any> {
    const l = by.get(p.localCandidateId) || {};
    const r = by.get(p.remoteCandidateId) || {};
    return {
      ...this.candidate(r, 'remote'),
      ...this.candidate(l, 'local'),
      candidateID: p.id,
      localCandidateId: p.localCandidateId,
      remoteCandidateId: p.remoteCandidateId,
      state: p.state,
      nominated: p.nominated,
    };
  }

  /** One candidate report as an IceCandidatePair with one side filled. */
  private candidate(c: Report, side: string): Record<string, any> {
    const ip = this.h.ip;
    return {
      candidateID: c.id,
      [side + 'CandidateType']: c.candidateType,
      [side + 'Address']: ip ? c.address : undefined,
      [side + 'Port']: ip ? c.port : undefined,
      protocol: c.protocol,
      relayProtocol: side == 'local' ? c.relayProtocol : undefined,
    };
  }

  /** getStats as plain reports; certificates lose their DER (kilobytes of nothing useful). */
  async collect(): Promise<Report[]> {
    const out: Report[] = [];
    (await this.pc.getStats()).forEach((r: Report) => {
      const o = { ...r };
      delete o.base64Certificate;
      out.push(o);
    });
    return out.slice(0, 1000);
  }

  /** One poll: queue the sample, watch the selected pair, compute the stats callback. */
  async poll(pre?: Report[]): Promise<void> {
    const pc: any = this.pc;
    let reports = pre;
    if (!reports) {
      if (this.done) return;
      if (pc.signalingState == 'closed' || pc.connectionState == 'closed') return this.end('closed');
      try {
        reports = await this.collect();
      } catch {
        return;
      }
      if (this.done) return;
    }
    const t = now();
    this.h.sample(this, reports, t);
    const by = index(reports);
    const p = selected(by);
    if (p) {
      const info = this.pairInfo(p, by);
      if (this.pair && this.pair.candidateID != p.id) {
        const l = by.get(p.localCandidateId) || {};
        this.push(
          'fabric_transport_change',
          {
            currIceCandidatePair: info,
            prevIceCandidatePair: this.pair,
            currIceConnectionState: this.s.iceConnectionState,
            relayType: l.candidateType == 'relay' ? 'turn/' + (l.relayProtocol || 'udp') : '',
          },
          t,
        );
      }
      this.pair = info;
    }
    this.metrics(by, p);
  }

  /** The csStatsCallback payload of the interval since the previous poll. */
  private metrics(by: Stats, pair?: Report): void {
    const prev = this.prev;
    this.prev = by;
    if (!prev) return;
    const tracks: any[] = [];
    for (const r of by.values()) {
      const out = r.type == 'outbound-rtp';
      const o = prev.get(r.id);
      const dt = o ? r.timestamp - o.timestamp : 0;
      if ((!out && r.type != 'inbound-rtp') || !o || !(dt > 0)) continue;
      const d = (k: string) => (r[k] || 0) - (o[k] || 0);
      // remote-inbound-rtp (what the peer received of ours) or remote-outbound-rtp.
      const rem = by.get(r.remoteId) || {};
      const rtt = ms(rem.roundTripTime ?? pair?.currentRoundTripTime);
      let loss: number;
      let jitter: number | undefined;
      if (out) {
        const sent = d('packetsSent');
        const lost = (rem.packetsLost || 0) - (prev.get(r.remoteId)?.packetsLost || 0);
        loss = rem.fractionLost ?? (sent > 0 ? Math.max(0, lost) / sent : 0);
        jitter = ms(rem.jitter);
      } else {
        const lost = Math.max(0, d('packetsLost'));
        const got = d('packetsReceived');
        loss = lost + got > 0 ? lost / (lost + got) : 0;
        jitter = ms(r.jitter);
      }
      const a = (this.avg[r.id] ||= [0, 0, 0, 0]);
      if (jitter != null) (a[0] += jitter), a[1]++;
      if (rtt != null) (a[2] += rtt), a[3]++;
      const ssrc = String(r.ssrc);
      const m = this.ssrc[ssrc];
      tracks.push({
        remoteUserID: this.remote,
        userID: m?.userID,
        statsType: r.type,
        ssrc,
        mediaType: r.kind,
        trackIdentifier: r.trackIdentifier,
        usageLabel: m?.usageLabel,
        associatedVideoTag: m?.associatedVideoTag,
        bitrate: (d(out ? 'bytesSent' : 'bytesReceived') * 8) / dt,
        packetRate: (d(out ? 'packetsSent' : 'packetsReceived') * 1000) / dt,
        fractionLoss: loss,
        packetLossPercentage: loss * 100,
        jitter,
        averageJitter: a[1] ? a[0] / a[1] : undefined,
        rtt,
        averageRTT: a[3] ? a[2] / a[3] : undefined,
        quality: quality(loss, jitter, rtt),
        audioInputLevel: out ? by.get(r.mediaSourceId)?.audioLevel : undefined,
        audioOutputLevel: out ? undefined : r.audioLevel,
      });
    }
    const s = this.s.iceConnectionState;
    const streams: Record<string, any> = {};
    for (const x of tracks) streams[x.ssrc] = { ...x, reportType: x.statsType };
    this.h.emit({
      connectionState: typeof navigator == 'object' && navigator.onLine === false ? 'offline' : 'online',
      fabricState: s == 'disconnected' || s == 'failed' ? 'disrupted' : this.ok ? 'established' : 'initialising',
      conferenceID: this.conf,
      remoteUserID: this.remote,
      connectionID: this.id,
      mediaStreamTracks: tracks,
      streams,
    });
  }

  /** Stops monitoring and reports fabric_terminated (with the ICE abort/termination). */
  end(reason: string, t = now()): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.timer);
    this.ac.abort();
    const s = this.s.iceConnectionState;
    if (s && s != 'closed') this.ice(s == 'new' || s == 'checking' ? 'iceAborted' : 'iceTerminated', t, s, 'closed');
    this.push('fabric_terminated', { reason }, t);
    this.h.end(this);
  }
}

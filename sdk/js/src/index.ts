// callscope browser SDK: the callstats.js API (shared/seed/callstats-js-api-reference.md and
// shared/reference/callstats-js-api-v3.md) over callscope's ingest batch endpoint.
//
// Every method validates its arguments and answers {status: 'success' | 'failure', msg} at once, as
// callstats.js did; what happens later (authentication, delivery) is told through csInitCallback,
// pcCallback and on('error').

import { Auth, TokenGenerator } from './auth';
import {
  callStatsAPIReturnStatus,
  csStatus,
  endpointType,
  enums,
  fabricEvent,
  fabricUsage,
  qualityRating,
  transmissionDirection,
  userIDType,
  webRTCFunctions,
} from './enums';
import type { CsStatus } from './enums';
import { Fabric, Host } from './fabric';
import { backoff, Transport } from './transport';
import {
  ApiResult,
  bytes,
  checkEnum,
  checkStr,
  checkUser,
  endpointInfo,
  fail,
  isFn,
  isObj,
  ok,
  UserInfo,
} from './util';

type Fn = (...args: any[]) => any;

/** Where the SDK was loaded from: the default server when configParams.serverURL is not given. */
const scriptOrigin = ((): string => {
  try {
    return new URL((document.currentScript as HTMLScriptElement).src).origin;
  } catch {
    return '';
  }
})();

const ADDITIONAL_IDS = [
  'customerID',
  'tenantID',
  'productName',
  'meetingsName',
  'serverName',
  'pbxID',
  'pbxExtensionID',
  'fqExtensionID',
  'sessionID',
];
const EVENTS = ['stats', 'error', 'preCallTestResults', 'defaultConfig', 'recommendedConfig', 'connectionRecommendation'];
/** configParams flags (callstats.js) and callscope's numeric settings with their minimum. */
const FLAGS = ['disableBeforeUnloadHandler', 'disablePrecalltest', 'collectLegacyStats', 'collectIP'];
const NUMBERS: Record<string, number> = { statsInterval: 1000, flushInterval: 100, maxBufferBytes: 65536 };

const safe = (cb: Fn | undefined, ...args: unknown[]): void => {
  try {
    cb?.(...args);
  } catch (e) {
    console.error('callscope: callback threw', e);
  }
};

/** Cuts a string to at most `max` UTF-8 bytes. */
const cut = (s: unknown, max: number): string | undefined => {
  if (s == null) return undefined;
  let v = String(s);
  while (bytes(v) > max) v = v.slice(0, Math.floor(v.length * 0.9));
  return v;
};

const checkPc = (pc: unknown): string =>
  isObj(pc) && isFn(pc.getStats) && isFn(pc.addEventListener) ? '' : 'pcObject must be an RTCPeerConnection';
const checkCb = (cb: unknown, name: string): string => (cb == null || isFn(cb) ? '' : name + ' must be a function');
const checkConf = (c: unknown): string => checkStr(c, 'conferenceID', 256);
const checkSdp = (s: unknown, name: string): string =>
  s == null || typeof s == 'string' || typeof (s as any).sdp == 'string' ? '' : name + ' must be an SDP string or description';

function checkConfig(c: any): string {
  if (c == null) return '';
  if (!isObj(c)) return 'configParams must be an object';
  for (const k of FLAGS) if (c[k] != null && typeof c[k] != 'boolean') return `configParams.${k} must be a boolean`;
  for (const k in NUMBERS)
    if (c[k] != null && !(typeof c[k] == 'number' && c[k] >= NUMBERS[k]))
      return `configParams.${k} must be a number >= ${NUMBERS[k]}`;
  const ids = c.additionalIDs;
  let e =
    checkStr(c.applicationVersion, 'configParams.applicationVersion', 30, true, 'characters', false) ||
    checkStr(c.siteID, 'configParams.siteID', 256, true, 'bytes', false) ||
    (ids == null || isObj(ids) ? '' : 'configParams.additionalIDs must be an object');
  for (const k of ADDITIONAL_IDS) e ||= checkStr(ids?.[k], 'configParams.additionalIDs.' + k, 256, true, 'bytes', false);
  if (!e && c.serverURL != null && !/^https?:\/\/[^/]/.test(c.serverURL)) e = 'configParams.serverURL must be an http(s) URL';
  return e;
}

export default class callstats {
  // The enums, on the constructor and on instances (assigned below the class).
  declare static fabricUsage: typeof fabricUsage;
  declare static fabricEvent: typeof fabricEvent;
  declare static webRTCFunctions: typeof webRTCFunctions;
  declare static endpointType: typeof endpointType;
  declare static transmissionDirection: typeof transmissionDirection;
  declare static userIDType: typeof userIDType;
  declare static csStatus: typeof csStatus;
  declare static callStatsAPIReturnStatus: typeof callStatsAPIReturnStatus;
  declare static qualityRating: typeof qualityRating;
  declare readonly fabricUsage: typeof fabricUsage;
  declare readonly fabricEvent: typeof fabricEvent;
  declare readonly webRTCFunctions: typeof webRTCFunctions;
  declare readonly endpointType: typeof endpointType;
  declare readonly transmissionDirection: typeof transmissionDirection;
  declare readonly userIDType: typeof userIDType;
  declare readonly csStatus: typeof csStatus;
  declare readonly callStatsAPIReturnStatus: typeof callStatsAPIReturnStatus;
  declare readonly qualityRating: typeof qualityRating;

  private t?: Transport;
  private host?: Host;
  private fabrics = new Map<object, Fabric>();
  private joined = new Set<string>();
  private joinData: any;
  private listeners: Record<string, Fn[]> = {};
  private initCb?: Fn;
  private last?: CsStatus;
  private wifiFn?: Fn;
  private wifi?: Record<string, unknown>;
  private cfg: any = {};

  /** `new callstats()`; the legacy `(null, io, jsSHA)` arguments are accepted and ignored. */
  constructor(..._legacy: unknown[]) {}

  /**
   * initialize(AppID, AppSecret | tokenGenerator, localUserID, csInitCallback?, csStatsCallback?,
   * configParams?)
   */
  initialize(
    appID: string | number,
    credential: string | TokenGenerator,
    localUserID: string | UserInfo,
    csInitCallback?: Fn | null,
    csStatsCallback?: Fn | null,
    configParams?: Record<string, any> | null,
  ): ApiResult {
    if (this.t) return fail('initialize() was already called');
    if (typeof appID == 'number' && Number.isInteger(appID) && appID >= 0) appID = String(appID);
    const [ue, user, info] = checkUser(localUserID, 'localUserID');
    const c = configParams || {};
    const e =
      checkStr(appID, 'AppID', 64) ||
      (/^[\w-]+$/.test(appID as string) ? '' : 'AppID may only contain letters, digits, - and _') ||
      (isFn(credential) ? '' : checkStr(credential, 'AppSecret', 1024, false, 'bytes', false)) ||
      ue ||
      checkCb(csInitCallback, 'csInitCallback') ||
      checkCb(csStatsCallback, 'csStatsCallback') ||
      checkConfig(configParams);
    if (e) return fail(e);
    const app = appID as string;
    const base = (c.serverURL || scriptOrigin || (typeof location == 'object' ? location.origin : '')).replace(/\/+$/, '');
    let additionalIDs: Record<string, string> | undefined;
    for (const k of ADDITIONAL_IDS) if (c.additionalIDs?.[k]) (additionalIDs ||= {})[k] = c.additionalIDs[k];
    this.joinData = {
      endpointInfo: endpointInfo(c.applicationVersion),
      siteID: c.siteID || undefined,
      additionalIDs,
      userInfo: info,
    };
    this.initCb = csInitCallback || undefined;
    if (csStatsCallback) this.on('stats', csStatsCallback);
    this.cfg = c;

    const auth = new Auth(base, app, user, credential);
    const t = (this.t = new Transport({
      base,
      appID: app,
      token: () => auth.get(),
      cached: () => auth.token,
      invalidate: () => auth.invalidate(),
      report: (s, m, d) => this.report(s, m, d),
      flushMs: c.flushInterval || 5000,
      bufferBytes: c.maxBufferBytes || 1 << 20,
    }));
    this.host = {
      push: (conf, kind, data, at, cb) => t.push(conf, kind, data, at, cb),
      sample: (f, reports, at) => {
        t.pushStats(f.conf, { ...f.ids, wifiStats: this.wifi }, reports, at);
        this.wifi = undefined;
        this.readWifi();
      },
      emit: (stats) => this.listeners.stats?.forEach((cb) => safe(cb, stats)),
      end: (f) => {
        this.fabrics.delete(f.pc);
        t.forget(f.id);
      },
      interval: c.statsInterval || 10000,
      ip: c.collectIP !== false,
    };

    // Authenticate at once, so that csInitCallback tells early whether the credentials work.
    const authenticate = (n: number): unknown =>
      auth.get().then(
        () => this.report('success', 'SDK authentication successful'),
        (f) => {
          this.report(f.status, f.msg);
          if (f.retry) setTimeout(() => authenticate(n + 1), Math.max(f.after || 0, backoff(n)));
        },
      );
    authenticate(0);

    // Keep-alive of each conference with a monitored fabric.
    setInterval(() => {
      for (const conf of new Set([...this.fabrics.values()].map((f) => f.conf))) t.push(conf, 'user_alive', {});
    }, 10000);

    if (typeof addEventListener == 'function') addEventListener('pagehide', () => this.unload());
    return ok('initialize accepted: authenticating');
  }

  /** addNewFabric(pc, remoteUserID, fabricUsage, conferenceID, fabricAttributes?, pcCallback?) */
  addNewFabric(
    pc: RTCPeerConnection,
    remoteUserID: string | UserInfo,
    usage: string,
    conferenceID: string,
    fabricAttributes?: Record<string, string> | Fn | null,
    pcCallback?: Fn | null,
  ): ApiResult {
    // The seed's 5-argument form: addNewFabric(pc, remote, usage, conference, pcCallback).
    if (isFn(fabricAttributes)) [pcCallback, fabricAttributes] = [fabricAttributes, null];
    const a: Record<string, string> = fabricAttributes || {};
    const [ue, remote] = checkUser(remoteUserID, 'remoteUserID');
    const e =
      this.pre() ||
      checkPc(pc) ||
      ue ||
      checkEnum(usage, fabricUsage, 'fabricUsage') ||
      checkConf(conferenceID) ||
      (fabricAttributes == null || isObj(fabricAttributes) ? '' : 'fabricAttributes must be an object') ||
      (a.remoteEndpointType == null ? '' : checkEnum(a.remoteEndpointType, endpointType, 'remoteEndpointType')) ||
      (a.fabricTransmissionDirection == null
        ? ''
        : checkEnum(a.fabricTransmissionDirection, transmissionDirection, 'fabricTransmissionDirection')) ||
      checkCb(pcCallback, 'pcCallback') ||
      (this.fabrics.has(pc) ? 'this pcObject is already monitored' : '');
    if (e) return fail(e);
    this.join(conferenceID);
    const f = new Fabric(this.host!, pc, conferenceID, remote, usage, {
      remoteEndpointType: a.remoteEndpointType,
      fabricTransmissionDirection: a.fabricTransmissionDirection,
    });
    this.fabrics.set(pc, f);
    f.start(pcCallback ? (s, m) => safe(pcCallback!, s, m) : undefined);
    return ok('fabric added');
  }

  /** reportError(pc | null, conferenceID, webRTCFunction, domError?, localSDP?, remoteSDP?) */
  reportError(
    pc: RTCPeerConnection | null,
    conferenceID: string,
    webRTCFunction: string,
    domError?: unknown,
    localSDP?: unknown,
    remoteSDP?: unknown,
  ): ApiResult {
    const e =
      this.pre() ||
      (pc == null ? '' : checkPc(pc)) ||
      checkConf(conferenceID) ||
      checkEnum(webRTCFunction, webRTCFunctions, 'webRTCFunctions') ||
      (domError == null || isObj(domError) || typeof domError == 'string' ? '' : 'domError must be an error object') ||
      checkSdp(localSDP, 'localSDP') ||
      checkSdp(remoteSDP, 'remoteSDP');
    if (e) return fail(e);
    const err: any = typeof domError == 'string' ? { message: domError } : domError || {};
    const dom = {
      name: cut(err.name, 256),
      message: cut(err.message, 8192),
      stack: cut(err.stack, 32768),
      constraintName: cut(err.constraintName || err.constraint, 256),
      code: Number.isInteger(err.code) ? err.code : undefined,
    };
    const sdp = (s: any) => cut(typeof s == 'string' ? s : s?.sdp, 65536);
    this.join(conferenceID);
    const f = pc && this.fabrics.get(pc);
    this.t!.push(conferenceID, 'report_error', {
      ...f?.ids,
      webRTCFunction,
      name: dom.name,
      message: dom.message,
      stack: dom.stack,
      domError: dom,
      localSDP: sdp(localSDP),
      remoteSDP: sdp(remoteSDP),
    });
    return ok('error reported');
  }

  /** sendFabricEvent(pc, fabricEvent, conferenceID, eventData?) */
  sendFabricEvent(pc: RTCPeerConnection, event: string, conferenceID: string, eventData?: any): ApiResult {
    const f = this.fabrics.get(pc);
    const e =
      this.pre() ||
      checkPc(pc) ||
      checkEnum(event, fabricEvent, 'fabricEvent') ||
      checkConf(conferenceID) ||
      this.fab(f, conferenceID) ||
      (eventData == null || isObj(eventData) ? '' : 'eventData must be an object') ||
      (event == 'activeDeviceList' && !Array.isArray(eventData?.deviceList)
        ? 'eventData.deviceList must be an array of MediaDeviceInfo'
        : '');
    if (e) return fail(e);
    const fab = f!;
    const d = eventData || {};
    const kind: Record<string, string> = {
      fabricHold: 'fabric_hold',
      fabricResume: 'fabric_resume',
      dominantSpeaker: 'dominant_speaker',
    };
    if (event == 'fabricTerminated') fab.end('fabricTerminated');
    else if (kind[event]) this.t!.push(conferenceID, kind[event], fab.ids);
    else if (event == 'activeDeviceList')
      this.t!.push(conferenceID, 'device_list', {
        eventType: event,
        mediaDeviceList: d.deviceList.slice(0, 64).map((x: any) => ({
          mediaDeviceID: x?.deviceId || undefined,
          kind: x?.kind || undefined,
          label: cut(x?.label || undefined, 256),
          groupID: x?.groupId || undefined,
        })),
      });
    else
      this.t!.push(conferenceID, 'media_action', {
        ...fab.ids,
        eventType: event,
        mediaDeviceID: typeof d.deviceID == 'string' && d.deviceID ? d.deviceID : undefined,
        ssrc: d.ssrc != null ? String(d.ssrc) : undefined,
      });
    return ok(event + ' sent');
  }

  /** associateMstWithUserID(pc, userID, conferenceID, SSRC, usageLabel, associatedVideoTag?) */
  associateMstWithUserID(
    pc: RTCPeerConnection,
    userID: string | UserInfo,
    conferenceID: string,
    ssrc: string | number,
    usageLabel: string,
    associatedVideoTag?: string,
  ): ApiResult {
    const f = this.fabrics.get(pc);
    const [ue, uid] = checkUser(userID, 'userID');
    const e =
      this.pre() ||
      checkPc(pc) ||
      ue ||
      checkConf(conferenceID) ||
      this.fab(f, conferenceID) ||
      ((typeof ssrc == 'number' && Number.isInteger(ssrc) && ssrc >= 0 && ssrc < 2 ** 32) ||
      (typeof ssrc == 'string' && /^\d{1,10}$/.test(ssrc))
        ? ''
        : 'SSRC must be a 32-bit unsigned integer (number or decimal string)') ||
      checkStr(usageLabel, 'usageLabel', 20, false, 'bytes', false) ||
      checkStr(associatedVideoTag, 'associatedVideoTag', 256, true, 'bytes', false);
    if (e) return fail(e);
    const fab = f!;
    const s = String(ssrc);
    fab.ssrc[s] = { userID: uid, usageLabel, associatedVideoTag };
    // What the last poll knows about this SSRC.
    let rtp: any;
    for (const r of fab.prev?.values() || []) if (String(r.ssrc) == s && /^(in|out)bound-rtp$/.test(r.type)) rtp = r;
    this.t!.push(conferenceID, 'ssrc_map', {
      ...fab.ids,
      ssrcData: [
        {
          ssrc: s,
          userID: uid,
          usageLabel,
          associatedVideoTag: associatedVideoTag || undefined,
          streamType: rtp?.type.slice(0, -4),
          mediaType: rtp?.kind,
          trackIdentifier: cut(rtp?.trackIdentifier, 256),
        },
      ],
    });
    return ok('association sent');
  }

  /** sendUserFeedback(conferenceID, {userID, overall, audio?, video?, screen?, comment?}, pcCallback?) */
  sendUserFeedback(conferenceID: string, feedback: any, pcCallback?: Fn | null): ApiResult {
    const fb = isObj(feedback) ? feedback : {};
    const rating = (k: string, required = false): string =>
      (fb[k] == null && !required) || (Number.isInteger(fb[k]) && fb[k] >= 1 && fb[k] <= 5)
        ? ''
        : `feedback.${k} must be an integer between 1 and 5`;
    const e =
      this.pre() ||
      checkConf(conferenceID) ||
      (isObj(feedback) ? '' : 'feedback must be an object') ||
      checkUser(fb.userID, 'feedback.userID')[0] ||
      rating('overall', true) ||
      rating('audio') ||
      rating('video') ||
      rating('screen') ||
      checkStr(fb.comment, 'feedback.comment', 2000, true, 'bytes', false) ||
      checkCb(pcCallback, 'pcCallback');
    if (e) return fail(e);
    this.join(conferenceID);
    this.t!.push(
      conferenceID,
      'feedback',
      {
        feedback: {
          overallRating: fb.overall,
          audioQualityRating: fb.audio,
          videoQualityRating: fb.video,
          screenQualityRating: fb.screen,
          comments: fb.comment || undefined,
        },
      },
      undefined,
      pcCallback ? (s, m) => safe(pcCallback, s, m) : undefined,
    );
    return ok('feedback sent');
  }

  /** on(eventName, callback): 'stats' and 'error' fire; the pre-call test events never do. */
  on(eventName: string, cb: Fn): ApiResult {
    const e =
      (EVENTS.includes(eventName) ? '' : 'eventName must be one of ' + EVENTS.join(', ')) ||
      (isFn(cb) ? '' : 'the callback must be a function');
    if (e) return fail(e);
    (this.listeners[eventName] ||= []).push(cb);
    return ok();
  }

  /** attachWifiStatsHandler(getWifiStats): a function returning a Promise of (stringified) Wi-Fi stats. */
  attachWifiStatsHandler(getWifiStats: Fn): ApiResult {
    if (!isFn(getWifiStats)) return fail('getWifiStats must be a function');
    this.wifiFn = getWifiStats;
    this.readWifi();
    return ok();
  }

  startPrecallTests(): ApiResult {
    return fail('pre-call tests are not supported by callscope');
  }

  stopPrecallTests(): ApiResult {
    return fail('pre-call tests are not supported by callscope');
  }

  sendCallDetails(): ApiResult {
    return fail('sendCallDetails is not supported by callscope');
  }

  private pre(): string {
    return this.t ? '' : 'initialize() must be called first';
  }

  private fab(f: Fabric | undefined, conferenceID: string): string {
    return !f
      ? 'pcObject is not monitored: call addNewFabric() first'
      : f.conf != conferenceID
        ? 'conferenceID differs from the one given to addNewFabric()'
        : '';
  }

  /** The first event of a conference is preceded by user_joined. */
  private join(conf: string): void {
    if (this.joined.has(conf)) return;
    this.joined.add(conf);
    this.t!.push(conf, 'user_joined', this.joinData);
  }

  private report(status: CsStatus, msg: string, detail?: Record<string, unknown>): void {
    if (status != 'success') this.listeners.error?.forEach((cb) => safe(cb, status, msg, detail));
    if (status != this.last) safe(this.initCb, status, msg);
    this.last = status;
  }

  private readWifi(): void {
    const fn = this.wifiFn;
    if (!fn) return;
    const num = (x: unknown) => (typeof x == 'number' && isFinite(x) ? x : undefined);
    Promise.resolve()
      .then(fn)
      .then((v) => {
        const w = typeof v == 'string' ? JSON.parse(v) : v;
        if (!isObj(w)) return;
        this.wifi = {
          signal: num(w.signal),
          rssi: num(w.rssi),
          noise: num(w.noise),
          timestamp: num(w.timestamp),
          interface: cut(w.interface, 256),
          addresses: Array.isArray(w.addresses)
            ? w.addresses.filter((x: unknown) => typeof x == 'string').slice(0, 256)
            : undefined,
        };
      })
      .catch(() => {});
  }

  /** Page unload: terminate every fabric and leave (unless disabled), then flush with sendBeacon. */
  private unload(): void {
    if (!this.cfg.disableBeforeUnloadHandler) {
      for (const f of [...this.fabrics.values()]) f.end('pagehide');
      for (const conf of this.joined) this.t!.push(conf, 'user_left', {});
    }
    this.t!.beacon();
  }
}

Object.assign(callstats, enums);
Object.assign(callstats.prototype, enums);


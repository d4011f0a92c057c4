// The public API: argument validation of every method (each answers {status, msg} at once, as
// callstats.js did) and what the calls send.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import callstats from '../src/index';
import { fakeServer, FakePC, fakeTimers, settle } from './helpers';

const SERVER = 'https://cs.example';
let srv: ReturnType<typeof fakeServer>;

beforeEach(() => {
  fakeTimers();
  srv = fakeServer({ secret: 'secret' });
  vi.stubGlobal('fetch', srv.fetch);
});
afterEach(async () => {
  // Let instances of this test finish what is in flight against this test's server.
  await settle();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function ready(config: Record<string, unknown> = {}) {
  const cs: any = new callstats(null, {}, {});
  const init: [string, string][] = [];
  const r = cs.initialize('123', 'secret', 'alice', (s: string, m: string) => init.push([s, m]), null, { serverURL: SERVER, ...config });
  expect(r).toEqual({ status: 'success', msg: expect.any(String) });
  return { cs, init };
}

const failure = (msg: RegExp | string) => ({ status: 'failure', msg: expect.stringMatching(msg) });

describe('constructor and enums', () => {
  it('accepts the legacy (null, io, jsSHA) arguments', () => {
    expect(() => new (callstats as any)(null, function io() {}, function jsSHA() {})).not.toThrow();
  });

  it('exposes the callstats enums verbatim, on the constructor and on instances', () => {
    const cs: any = new callstats();
    const C: any = callstats;
    expect(Object.values(C.fabricUsage)).toEqual(['multiplex', 'audio', 'video', 'screen', 'data', 'unbundled']);
    expect(Object.values(C.fabricEvent)).toEqual([
      'fabricHold', 'fabricResume', 'audioMute', 'audioUnmute', 'videoPause', 'videoResume',
      'fabricTerminated', 'screenShareStart', 'screenShareStop', 'dominantSpeaker', 'activeDeviceList',
    ]);
    expect(Object.values(C.webRTCFunctions)).toEqual([
      'getUserMedia', 'createOffer', 'createAnswer', 'setLocalDescription', 'setRemoteDescription',
      'addIceCandidate', 'iceConnectionFailure', 'signalingError', 'applicationLog',
    ]);
    expect(Object.values(C.endpointType)).toEqual(['peer', 'server']);
    expect(Object.values(C.transmissionDirection)).toEqual(['sendonly', 'receiveonly', 'sendrecv', 'inactive']);
    expect(Object.values(C.csStatus)).toEqual(['httpError', 'authError', 'success', 'tokenGenerationError']);
    expect(Object.values(C.callStatsAPIReturnStatus)).toEqual(['success', 'failure']);
    expect(cs.fabricUsage.multiplex).toBe('multiplex');
    expect(cs.transmissionDirection.receiveonly).toBe('receiveonly');
    expect(Object.isFrozen(C.fabricUsage)).toBe(true);
  });
});

describe('initialize', () => {
  const cases: [string, unknown[], RegExp][] = [
    ['empty AppID', ['', 's', 'u'], /AppID/],
    ['AppID with a slash', ['12/3', 's', 'u'], /AppID may only contain/],
    ['AppID over 64 bytes', ['1'.repeat(65), 's', 'u'], /AppID exceeds 64/],
    ['AppID as a fraction', [1.5, 's', 'u'], /AppID/],
    ['no AppSecret', ['1', undefined, 'u'], /AppSecret/],
    ['AppSecret not a string', ['1', 42, 'u'], /AppSecret/],
    ['empty userID', ['1', 's', ''], /localUserID must be a non-empty string/],
    ['userID over 128 bytes', ['1', 's', 'é'.repeat(65)], /localUserID exceeds 128 bytes/],
    ['userID with a newline', ['1', 's', 'a\nb'], /control characters/],
    ['userID a number', ['1', 's', 42], /localUserID must be a string or an object/],
    ['userID object without aliasName', ['1', 's', { userName: 'Clark' }], /aliasName/],
    ['userID object without userName', ['1', 's', { aliasName: 'superman' }], /userName/],
    ['aliasName over 128 characters', ['1', 's', { userName: 'C', aliasName: 'x'.repeat(129) }], /aliasName exceeds 128 characters/],
    ['loginID over 128 characters', ['1', 's', { userName: 'C', aliasName: 's', loginID: 'x'.repeat(129) }], /loginID/],
    ['csInitCallback not a function', ['1', 's', 'u', 'cb'], /csInitCallback must be a function/],
    ['csStatsCallback not a function', ['1', 's', 'u', null, 7], /csStatsCallback must be a function/],
    ['configParams not an object', ['1', 's', 'u', null, null, 'x'], /configParams must be an object/],
    ['applicationVersion over 30 characters', ['1', 's', 'u', null, null, { applicationVersion: 'v'.repeat(31) }], /applicationVersion exceeds 30 characters/],
    ['applicationVersion not a string', ['1', 's', 'u', null, null, { applicationVersion: 3 }], /applicationVersion/],
    ['siteID over 256 bytes', ['1', 's', 'u', null, null, { siteID: 's'.repeat(257) }], /siteID exceeds 256 bytes/],
    ['additionalIDs not an object', ['1', 's', 'u', null, null, { additionalIDs: 'x' }], /additionalIDs must be an object/],
    ['an additionalID over 256 bytes', ['1', 's', 'u', null, null, { additionalIDs: { tenantID: 't'.repeat(257) } }], /additionalIDs.tenantID exceeds 256/],
    ['a flag not boolean', ['1', 's', 'u', null, null, { disableBeforeUnloadHandler: 'yes' }], /disableBeforeUnloadHandler must be a boolean/],
    ['collectIP not boolean', ['1', 's', 'u', null, null, { collectIP: 1 }], /collectIP/],
    ['serverURL not http(s)', ['1', 's', 'u', null, null, { serverURL: 'ftp://x' }], /serverURL/],
    ['statsInterval too small', ['1', 's', 'u', null, null, { statsInterval: 10 }], /statsInterval must be a number >= 1000/],
  ];
  it.each(cases)('refuses %s, without any request', async (_, args, msg) => {
    const cs: any = new callstats();
    expect(cs.initialize(...args)).toEqual(failure(msg));
    await settle(1000);
    expect(srv.fetch).not.toHaveBeenCalled();
  });

  it('accepts the documented forms', () => {
    const gen = (_: boolean, cb: Function) => cb(null, 'jwt');
    const forms: unknown[][] = [
      [123456, 's', 'u', null, null, { serverURL: SERVER }],
      ['123', gen, { userName: 'Clark Kent', aliasName: 'superman', loginID: 'superman@dc' }, null, null, { serverURL: SERVER }],
      ['123', 's', 'é'.repeat(64), () => {}, () => {}, {
        serverURL: SERVER, applicationVersion: '€'.repeat(30), siteID: '', disablePrecalltest: true,
        collectLegacyStats: true, additionalIDs: {},
      }],
      ['123', 's', 'u', undefined, undefined, { applicationVersion: '', serverURL: 'http://127.0.0.1:8080/' }],
    ];
    for (const args of forms) expect((new callstats() as any).initialize(...args)).toMatchObject({ status: 'success' });
  });

  it('authenticates at once and reports success through csInitCallback', async () => {
    const { init } = ready();
    await settle(1);
    expect(init).toEqual([['success', 'SDK authentication successful']]);
    expect(srv.calls.map((c) => c.url)).toEqual([SERVER + '/v1/auth/challenge', SERVER + '/v1/auth/response']);
  });

  it('reports authError for a wrong secret, and tokenGenerationError for a failing generator', async () => {
    const init: string[] = [];
    (new callstats() as any).initialize('1', 'wrong', 'u', (s: string) => init.push(s), null, { serverURL: SERVER });
    (new callstats() as any).initialize('1', (_: boolean, cb: Function) => cb('nope'), 'u', (s: string) => init.push(s), null, {
      serverURL: SERVER,
    });
    await settle(1);
    expect(init.sort()).toEqual(['authError', 'tokenGenerationError']);
  });

  it('reports httpError while the server is unreachable, then success, retrying with backoff', async () => {
    srv = fakeServer({ secret: 'secret', authReplies: ['network', 'network'] });
    vi.stubGlobal('fetch', srv.fetch);
    const { init } = ready();
    await settle(1);
    expect(init.map(([s]) => s)).toEqual(['httpError']);
    await settle(5000);
    expect(init.map(([s]) => s)).toEqual(['httpError', 'success']);
  });

  it('can be called once', () => {
    const { cs } = ready();
    expect(cs.initialize('123', 'secret', 'alice')).toEqual(failure(/already/));
  });

  it('joins a conference with endpoint info, siteID, additionalIDs and the user object', async () => {
    const cs: any = new callstats();
    cs.initialize('123', 'secret', { userName: 'Clark Kent', aliasName: 'superman' }, null, null, {
      serverURL: SERVER,
      applicationVersion: 'v1.2',
      siteID: 'hq',
      additionalIDs: { customerID: 'acme', unknownID: 'dropped' },
    });
    cs.sendUserFeedback('conf', { userID: 'superman', overall: 5 });
    await settle(300);
    await settle(1);
    expect(srv.calls[0].body).toEqual({ appID: '123', userID: 'superman' });
    const [joined, fb] = srv.events();
    expect(joined.kind).toBe('user_joined');
    expect(joined.data).toMatchObject({
      endpointInfo: { type: 'browser', appVersion: 'v1.2' },
      siteID: 'hq',
      additionalIDs: { customerID: 'acme' },
      userInfo: { userName: 'Clark Kent', aliasName: 'superman' },
    });
    expect(joined.data.additionalIDs.unknownID).toBeUndefined();
    expect(fb.kind).toBe('feedback');
  });
});

describe('methods before initialize', () => {
  it('refuse with a reason', () => {
    const cs: any = new callstats();
    const pc = new FakePC();
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c')).toEqual(failure(/initialize\(\) must be called first/));
    expect(cs.reportError(null, 'c', 'getUserMedia')).toEqual(failure(/initialize/));
    expect(cs.sendFabricEvent(pc, 'fabricHold', 'c')).toEqual(failure(/initialize/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', 1, 'mic')).toEqual(failure(/initialize/));
    expect(cs.sendUserFeedback('c', { userID: 'u', overall: 3 })).toEqual(failure(/initialize/));
  });
});

describe('addNewFabric', () => {
  it('validates every argument', () => {
    const { cs } = ready();
    const pc = new FakePC();
    const long = 'c'.repeat(257);
    expect(cs.addNewFabric(null, 'bob', 'multiplex', 'c')).toEqual(failure(/pcObject must be an RTCPeerConnection/));
    expect(cs.addNewFabric({}, 'bob', 'multiplex', 'c')).toEqual(failure(/pcObject/));
    expect(cs.addNewFabric(pc, '', 'multiplex', 'c')).toEqual(failure(/remoteUserID/));
    expect(cs.addNewFabric(pc, 'x'.repeat(129), 'multiplex', 'c')).toEqual(failure(/remoteUserID exceeds 128 bytes/));
    expect(cs.addNewFabric(pc, 'bob', 'quadruplex', 'c')).toEqual(failure(/fabricUsage must be one of multiplex/));
    expect(cs.addNewFabric(pc, 'bob', undefined, 'c')).toEqual(failure(/fabricUsage/));
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', '')).toEqual(failure(/conferenceID must be a non-empty string/));
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', long)).toEqual(failure(/conferenceID exceeds 256 bytes/));
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c', 'attrs')).toEqual(failure(/fabricAttributes must be an object/));
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c', { remoteEndpointType: 'client' })).toEqual(failure(/remoteEndpointType/));
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c', { fabricTransmissionDirection: 'recvonly' })).toEqual(
      failure(/fabricTransmissionDirection must be one of sendonly, receiveonly/),
    );
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c', {}, 'cb')).toEqual(failure(/pcCallback must be a function/));
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c'.repeat(256))).toMatchObject({ status: 'success' });
    expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'c')).toEqual(failure(/already monitored/));
  });

  it('takes the seed 5-argument form (pcCallback) and the v3 form (fabricAttributes, pcCallback)', async () => {
    const { cs } = ready();
    const done: string[] = [];
    expect(cs.addNewFabric(new FakePC(), 'bob', cs.fabricUsage.audio, 'c', (s: string) => done.push('a:' + s))).toMatchObject({ status: 'success' });
    expect(
      cs.addNewFabric(new FakePC(), { userName: 'Carol', aliasName: 'carol' }, 'video', 'c', { remoteEndpointType: 'server', fabricTransmissionDirection: 'receiveonly' }, (s: string) => done.push('b:' + s)),
    ).toMatchObject({ status: 'success' });
    await settle(5000);
    await settle(1);
    expect(done).toEqual(['a:success', 'b:success']);
    const created = srv.events().filter((e) => e.kind == 'fabric_created').map((e) => e.data);
    expect(created[0]).toEqual({ remoteID: 'bob', connectionID: expect.stringMatching(/^[0-9a-f]{24}$/), fabricUsage: 'audio' });
    expect(created[1]).toMatchObject({ remoteID: 'carol', fabricUsage: 'video', remoteEndpointType: 'server', fabricTransmissionDirection: 'receiveonly' });
    expect(srv.events()[0].kind).toBe('user_joined');
  });
});

describe('reportError', () => {
  it('validates its arguments', () => {
    const { cs } = ready();
    expect(cs.reportError('pc', 'c', 'createOffer')).toEqual(failure(/pcObject/));
    expect(cs.reportError(null, '', 'createOffer')).toEqual(failure(/conferenceID/));
    expect(cs.reportError(null, 'c', 'createOfferz')).toEqual(failure(/webRTCFunctions must be one of getUserMedia/));
    expect(cs.reportError(null, 'c', 'createOffer', 42)).toEqual(failure(/domError/));
    expect(cs.reportError(null, 'c', 'createOffer', null, 42)).toEqual(failure(/localSDP/));
    expect(cs.reportError(null, 'c', 'createOffer', null, null, {})).toEqual(failure(/remoteSDP/));
  });

  it('sends the DOMError fields and the SDPs', async () => {
    const { cs } = ready();
    const pc = new FakePC();
    cs.addNewFabric(pc, 'bob', 'multiplex', 'c');
    const err = Object.assign(new Error('no codecs'), { name: 'OperationError', code: 0 });
    expect(cs.reportError(pc, 'c', cs.webRTCFunctions.createOffer, err, { type: 'offer', sdp: 'v=0\r\n' }, 'v=0 remote')).toMatchObject({
      status: 'success',
    });
    expect(cs.reportError(null, 'c', 'getUserMedia', { name: 'NotAllowedError', message: 'denied', constraint: 'width' })).toMatchObject({
      status: 'success',
    });
    await settle(300);
    const [a, b] = srv.events().filter((e) => e.kind == 'report_error').map((e) => e.data);
    expect(a).toMatchObject({
      remoteID: 'bob',
      connectionID: expect.any(String),
      webRTCFunction: 'createOffer',
      name: 'OperationError',
      message: 'no codecs',
      stack: expect.stringContaining('no codecs'),
      domError: { name: 'OperationError', message: 'no codecs', code: 0 },
      localSDP: 'v=0\r\n',
      remoteSDP: 'v=0 remote',
    });
    expect(b).toMatchObject({ webRTCFunction: 'getUserMedia', domError: { constraintName: 'width' } });
    expect(b.connectionID).toBeUndefined();
  });

  it('cuts oversized messages and stacks to the server limits', async () => {
    const { cs } = ready();
    cs.reportError(null, 'c', 'applicationLog', { message: 'é'.repeat(10000), stack: 's'.repeat(40000) });
    await settle(300);
    const d = srv.events().find((e) => e.kind == 'report_error')!.data;
    expect(new TextEncoder().encode(d.message).length).toBeLessThanOrEqual(8192);
    expect(d.stack.length).toBeLessThanOrEqual(32768);
  });
});

describe('sendFabricEvent', () => {
  it('validates its arguments', () => {
    const { cs } = ready();
    const pc = new FakePC();
    cs.addNewFabric(pc, 'bob', 'multiplex', 'c');
    expect(cs.sendFabricEvent(pc, 'fabricSetup', 'c')).toEqual(failure(/fabricEvent must be one of fabricHold/));
    expect(cs.sendFabricEvent(pc, 'fabricHold', '')).toEqual(failure(/conferenceID/));
    expect(cs.sendFabricEvent(new FakePC(), 'fabricHold', 'c')).toEqual(failure(/call addNewFabric\(\) first/));
    expect(cs.sendFabricEvent(pc, 'fabricHold', 'other')).toEqual(failure(/conferenceID differs/));
    expect(cs.sendFabricEvent(pc, 'fabricHold', 'c', 'data')).toEqual(failure(/eventData must be an object/));
    expect(cs.sendFabricEvent(pc, 'activeDeviceList', 'c', {})).toEqual(failure(/deviceList/));
  });

  it('maps each fabricEvent to its kind', async () => {
    const { cs } = ready();
    const pc = new FakePC();
    cs.addNewFabric(pc, 'bob', 'multiplex', 'c');
    for (const e of ['fabricHold', 'fabricResume', 'audioMute', 'audioUnmute', 'videoPause', 'videoResume', 'screenShareStart', 'screenShareStop', 'dominantSpeaker'])
      expect(cs.sendFabricEvent(pc, e, 'c', e == 'screenShareStart' ? { ssrc: 42 } : undefined)).toMatchObject({ status: 'success' });
    cs.sendFabricEvent(pc, 'activeDeviceList', 'c', {
      deviceList: [{ deviceId: 'd1', kind: 'audioinput', label: 'Mic', groupId: 'g1' }, { deviceId: '', kind: 'videoinput', label: '', groupId: '' }],
    });
    cs.sendFabricEvent(pc, 'fabricTerminated', 'c');
    expect(cs.sendFabricEvent(pc, 'fabricHold', 'c')).toEqual(failure(/not monitored/));
    await settle(300);
    const ev = srv.events().filter((e) => !['user_joined', 'fabric_created'].includes(e.kind));
    expect(ev.map((e) => [e.kind, e.data.eventType])).toEqual([
      ['fabric_hold', undefined],
      ['fabric_resume', undefined],
      ['media_action', 'audioMute'],
      ['media_action', 'audioUnmute'],
      ['media_action', 'videoPause'],
      ['media_action', 'videoResume'],
      ['media_action', 'screenShareStart'],
      ['media_action', 'screenShareStop'],
      ['dominant_speaker', undefined],
      ['device_list', 'activeDeviceList'],
      ['ice_status', undefined],
      ['fabric_terminated', undefined],
    ].map(([k, t]) => (t ? [k, t] : [k, k == 'ice_status' ? 'iceAborted' : undefined])));
    expect(ev[6].data.ssrc).toBe('42');
    expect(ev[9].data.mediaDeviceList).toEqual([{ mediaDeviceID: 'd1', kind: 'audioinput', label: 'Mic', groupID: 'g1' }, { kind: 'videoinput' }]);
    expect(ev.at(-1)!.data).toMatchObject({ remoteID: 'bob', reason: 'fabricTerminated' });
  });
});

describe('associateMstWithUserID', () => {
  it('validates its arguments', () => {
    const { cs } = ready();
    const pc = new FakePC();
    cs.addNewFabric(pc, 'bob', 'multiplex', 'c');
    expect(cs.associateMstWithUserID(pc, '', 'c', 1, 'mic')).toEqual(failure(/userID/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', -1, 'mic')).toEqual(failure(/SSRC/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', 2 ** 32, 'mic')).toEqual(failure(/SSRC/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', 'abc', 'mic')).toEqual(failure(/SSRC/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', null, 'mic')).toEqual(failure(/SSRC/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', 1, '')).toEqual(failure(/usageLabel must be a non-empty string/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', 1, 'x'.repeat(21))).toEqual(failure(/usageLabel exceeds 20 bytes/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', 1, 'mic', 7)).toEqual(failure(/associatedVideoTag/));
    expect(cs.associateMstWithUserID(new FakePC(), 'u', 'c', 1, 'mic')).toEqual(failure(/addNewFabric/));
    expect(cs.associateMstWithUserID(pc, 'u', 'c', '4294967295', 'x'.repeat(20), 'video-1')).toMatchObject({ status: 'success' });
  });

  it('sends an ssrc_map entry', async () => {
    const { cs } = ready();
    const pc = new FakePC();
    cs.addNewFabric(pc, 'bob', 'multiplex', 'c');
    cs.associateMstWithUserID(pc, { userName: 'Bob', aliasName: 'bob' }, 'c', 1234, 'front-camera', 'remote-video');
    await settle(5000);
    const m = srv.events().find((e) => e.kind == 'ssrc_map')!.data;
    expect(m).toEqual({
      remoteID: 'bob',
      connectionID: expect.any(String),
      ssrcData: [{ ssrc: '1234', userID: 'bob', usageLabel: 'front-camera', associatedVideoTag: 'remote-video' }],
    });
  });
});

describe('sendUserFeedback', () => {
  it('validates its arguments', () => {
    const { cs } = ready();
    const ok = { userID: 'alice', overall: 4 };
    expect(cs.sendUserFeedback('', ok)).toEqual(failure(/conferenceID/));
    expect(cs.sendUserFeedback('c', null)).toEqual(failure(/feedback must be an object/));
    expect(cs.sendUserFeedback('c', { overall: 4 })).toEqual(failure(/feedback.userID/));
    for (const overall of [undefined, 0, 6, 3.5, '4'])
      expect(cs.sendUserFeedback('c', { userID: 'a', overall })).toEqual(failure(/feedback.overall must be an integer between 1 and 5/));
    expect(cs.sendUserFeedback('c', { ...ok, audio: 7 })).toEqual(failure(/feedback.audio/));
    expect(cs.sendUserFeedback('c', { ...ok, video: 0 })).toEqual(failure(/feedback.video/));
    expect(cs.sendUserFeedback('c', { ...ok, screen: 'x' })).toEqual(failure(/feedback.screen/));
    expect(cs.sendUserFeedback('c', { ...ok, comment: 'x'.repeat(2001) })).toEqual(failure(/feedback.comment exceeds 2000 bytes/));
    expect(cs.sendUserFeedback('c', ok, 'cb')).toEqual(failure(/pcCallback/));
    for (const overall of [1, 5]) expect(cs.sendUserFeedback('c', { userID: 'a', overall })).toMatchObject({ status: 'success' });
  });

  it('sends the ratings with the REST names and calls back once delivered', async () => {
    const { cs } = ready();
    const done: string[] = [];
    cs.sendUserFeedback('c', { userID: 'alice', overall: 4, audio: 5, video: 3, screen: 2, comment: 'choppy\nvideo' }, (s: string) => done.push(s));
    await settle(300);
    expect(srv.events().find((e) => e.kind == 'feedback')!.data).toEqual({
      feedback: { overallRating: 4, audioQualityRating: 5, videoQualityRating: 3, screenQualityRating: 2, comments: 'choppy\nvideo' },
    });
    expect(done).toEqual(['success']);
  });
});

describe('on and the unsupported calls', () => {
  it('on() accepts the documented events and a function only', () => {
    const cs: any = new callstats();
    for (const e of ['stats', 'error', 'preCallTestResults', 'defaultConfig', 'recommendedConfig', 'connectionRecommendation'])
      expect(cs.on(e, () => {})).toEqual({ status: 'success', msg: 'success' });
    expect(cs.on('statz', () => {})).toEqual(failure(/eventName must be one of stats, error/));
    expect(cs.on('stats', 'cb')).toEqual(failure(/function/));
  });

  it('attachWifiStatsHandler needs a function; pre-call tests and sendCallDetails are not supported', () => {
    const cs: any = new callstats();
    expect(cs.attachWifiStatsHandler(null)).toEqual(failure(/function/));
    expect(cs.attachWifiStatsHandler(async () => '{}')).toMatchObject({ status: 'success' });
    expect(cs.startPrecallTests([], 60)).toEqual(failure(/not supported/));
    expect(cs.stopPrecallTests()).toEqual(failure(/not supported/));
    expect(cs.sendCallDetails({}, 'c', {})).toEqual(failure(/not supported/));
  });

  it('on("error") hears refused batches; a throwing callback does not break the SDK', async () => {
    srv = fakeServer({ secret: 'secret', batchReplies: [{ status: 422, body: { status: 'error', msg: 'feedback.overallRating: is required', field: 'events[1].data.feedback.overallRating' } }] });
    vi.stubGlobal('fetch', srv.fetch);
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const { cs, init } = ready();
    const errors: unknown[][] = [];
    cs.on('error', () => {
      throw new Error('app bug');
    });
    cs.on('error', (...a: unknown[]) => errors.push(a));
    cs.sendUserFeedback('c', { userID: 'alice', overall: 4 });
    await settle(300);
    await settle(1);
    expect(errors).toEqual([
      ['httpError', 'batch refused (422): feedback.overallRating: is required', expect.objectContaining({ status: 422, dropped: ['feedback'] })],
    ]);
    expect(init.map(([s]) => s)).toEqual(['success', 'httpError', 'success']);
    expect(srv.events().map((e) => e.kind)).toEqual(['user_joined', 'feedback', 'user_joined']);
  });
});

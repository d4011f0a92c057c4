// What the SDK does by itself for a monitored PeerConnection: setup and failure from its states,
// ICE disruptions and restarts, getStats polling, the stats callback, termination and unload.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import callstats from '../src/index';
import { quality } from '../src/fabric';
import { fakeServer, FakePC, fakeTimers, rtpReports, settle } from './helpers';

const SERVER = 'https://cs.example';
let srv: ReturnType<typeof fakeServer>;
let win: EventTarget;

beforeEach(() => {
  fakeTimers();
  srv = fakeServer({ secret: 'secret' });
  vi.stubGlobal('fetch', srv.fetch);
  win = new EventTarget();
  vi.stubGlobal('addEventListener', win.addEventListener.bind(win));
});
afterEach(async () => {
  await settle();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function monitored(config: Record<string, unknown> = {}) {
  const cs: any = new callstats();
  const stats: any[] = [];
  cs.initialize('123', 'secret', 'alice', null, (s: any) => stats.push(s), { serverURL: SERVER, ...config });
  const pc = new FakePC();
  expect(cs.addNewFabric(pc, 'bob', 'multiplex', 'conf', { remoteEndpointType: 'server' })).toMatchObject({ status: 'success' });
  return { cs, pc, stats };
}

const sent = (kind?: string) => srv.events().filter((e) => !kind || e.kind == kind);

describe('fabric setup', () => {
  it('is reported from the connection state, with ICE gathering, connectivity and DTLS delays', async () => {
    const { pc } = monitored();
    const t0 = Date.now();
    pc.reports = rtpReports(t0, 0);
    const at = async (ms: number, state: string, value: string) => {
      vi.setSystemTime(t0 + ms);
      pc.set(state, value);
    };
    await at(10, 'iceGatheringState', 'gathering');
    await at(20, 'iceConnectionState', 'checking');
    await at(30, 'iceGatheringState', 'complete');
    await at(50, 'iceConnectionState', 'connected');
    await at(65, 'connectionState', 'connected');
    await settle(300);
    const [setup] = sent('fabric_setup');
    expect(setup.timestamp).toBe(t0 + 65);
    expect(setup.data).toEqual({
      remoteID: 'bob',
      connectionID: expect.any(String),
      delay: 65,
      totalSetupDelay: 65,
      iceGatheringDelay: 20,
      iceConnectivityDelay: 30,
      dtlsSetupDelay: 15,
      remoteEndpointType: 'server',
      selectedCandidatePairID: 'CP1',
      selectedCandidatePair: {
        candidateID: 'CP1',
        localCandidateId: 'L1',
        remoteCandidateId: 'R1',
        localCandidateType: 'host',
        remoteCandidateType: 'srflx',
        localAddress: '10.0.0.1',
        localPort: 5000,
        remoteAddress: '192.0.2.1',
        remotePort: 6000,
        protocol: 'udp',
        state: 'succeeded',
        nominated: true,
      },
    });
    const changes = sent('fabric_state_change').map((e) => [e.data.changedState, e.data.prevState, e.data.newState]);
    expect(changes).toEqual([
      ['iceGatheringState', 'new', 'gathering'],
      ['iceConnectionState', 'new', 'checking'],
      ['iceGatheringState', 'gathering', 'complete'],
      ['iceConnectionState', 'checking', 'connected'],
      ['connectionState', 'new', 'connected'],
    ]);
    // The getStats of the setup is the first stats sample.
    expect(sent('stats_sample')).toHaveLength(1);
    expect(sent('fabric_created')[0].timestamp).toBe(t0);
  });

  it('leaves addresses out when collectIP is false', async () => {
    const { pc } = monitored({ collectIP: false });
    pc.reports = rtpReports(Date.now(), 0);
    pc.set('connectionState', 'connected');
    await settle(300);
    const pair = sent('fabric_setup')[0].data.selectedCandidatePair;
    expect(pair.localCandidateType).toBe('host');
    expect(pair.localAddress).toBeUndefined();
    expect(pair.remotePort).toBeUndefined();
  });

  it('a connection that fails before setup is fabric_setup_failed, with the candidates tried', async () => {
    const { pc } = monitored();
    const t0 = Date.now();
    pc.reports = rtpReports(t0, 0).filter((r) => r.type.endsWith('candidate'));
    await settle(100);
    pc.set('iceConnectionState', 'checking');
    await settle(30000);
    pc.set('iceConnectionState', 'failed');
    pc.set('connectionState', 'failed');
    await settle(300);
    const [f] = sent('fabric_setup_failed');
    expect(f.data).toMatchObject({
      reason: 'IceConnectionFailure',
      name: 'IceConnectionFailure',
      message: expect.stringContaining('iceConnectionState failed'),
      delay: 30100,
      iceConnectivityDelay: 30000,
      localCandidates: [{ candidateID: 'L1', localCandidateType: 'host', localAddress: '10.0.0.1', localPort: 5000, protocol: 'udp' }],
      remoteCandidates: [{ candidateID: 'R1', remoteCandidateType: 'srflx' }],
      remoteEndpointType: 'server',
    });
    expect(sent('ice_status').map((e) => e.data.eventType)).toEqual(['iceFailed']);
    expect(sent('fabric_setup')).toHaveLength(0);
  });

  it('a DTLS failure after ICE connected is a TransportFailure', async () => {
    const { pc } = monitored();
    pc.set('iceConnectionState', 'connected');
    pc.set('connectionState', 'failed');
    await settle(300);
    expect(sent('fabric_setup_failed')[0].data.reason).toBe('TransportFailure');
  });
});

describe('ICE after setup', () => {
  it('reports disruptions with their length, restarts, and a drop', async () => {
    const { pc } = monitored();
    const t0 = Date.now();
    pc.reports = rtpReports(t0, 0);
    pc.set('iceGatheringState', 'gathering');
    pc.set('iceGatheringState', 'complete');
    pc.set('iceConnectionState', 'checking');
    pc.set('iceConnectionState', 'connected');
    pc.set('connectionState', 'connected');
    await settle(300);
    vi.setSystemTime(t0 + 1000);
    pc.set('iceConnectionState', 'disconnected');
    vi.setSystemTime(t0 + 3500);
    pc.set('iceConnectionState', 'connected');
    pc.set('iceGatheringState', 'gathering');
    pc.set('iceConnectionState', 'disconnected');
    pc.set('iceConnectionState', 'failed');
    pc.set('connectionState', 'failed');
    await settle(300);
    const ice = sent('ice_status').map((e) => [e.data.eventType, e.data.prevIceCandidateState, e.data.currIceCandidateState, e.data.delay]);
    expect(ice).toEqual([
      ['iceDisruptionStart', 'connected', 'disconnected', undefined],
      ['iceDisruptionEnd', 'disconnected', 'connected', 2500],
      ['iceRestarted', 'connected', 'connected', undefined],
      ['iceDisruptionStart', 'connected', 'disconnected', undefined],
      ['iceFailed', 'disconnected', 'failed', undefined],
    ]);
    const [drop] = sent('fabric_dropped');
    expect(drop.data).toMatchObject({ remoteID: 'bob', currIceConnectionState: 'failed', currIceCandidatePair: { candidateID: 'CP1' } });
    expect(sent('fabric_setup_failed')).toHaveLength(0);
  });

  it('reports a change of the selected candidate pair', async () => {
    const { pc } = monitored();
    const t0 = Date.now();
    pc.reports = rtpReports(t0, 0);
    pc.set('connectionState', 'connected');
    await settle(300);
    pc.reports = rtpReports(t0 + 10000, 500).map((r) =>
      r.type == 'transport'
        ? { ...r, selectedCandidatePairId: 'CP2' }
        : r.id == 'L1'
          ? { ...r, id: 'L2', candidateType: 'relay', relayProtocol: 'tls' }
          : r.id == 'CP1'
            ? { ...r, id: 'CP2', localCandidateId: 'L2' }
            : r,
    );
    await settle(10000);
    await settle(5000);
    const [tc] = sent('fabric_transport_change');
    expect(tc.data).toMatchObject({
      prevIceCandidatePair: { candidateID: 'CP1', localCandidateType: 'host' },
      currIceCandidatePair: { candidateID: 'CP2', localCandidateType: 'relay', relayProtocol: 'tls' },
      relayType: 'turn/tls',
    });
  });
});

describe('stats', () => {
  it('polls getStats every 10 s and fires the stats callback with per-track metrics', async () => {
    const { cs, pc, stats } = monitored();
    const heard: any[] = [];
    cs.on('stats', (s: any) => heard.push(s));
    cs.associateMstWithUserID(pc, 'bob', 'conf', 1111, 'mic', 'bob-audio');
    const t0 = Date.now();
    pc.reports = rtpReports(t0, 0);
    pc.set('connectionState', 'connected');
    await settle(300);
    expect(stats).toHaveLength(0);
    pc.reports = rtpReports(t0 + 10000, 500, { packetsLost: 10, jitter: 0.012 });
    await settle(10000);
    expect(stats).toHaveLength(1);
    expect(heard).toEqual(stats);
    const s = stats[0];
    expect(s).toMatchObject({ connectionState: 'online', fabricState: 'established', conferenceID: 'conf', remoteUserID: 'bob' });
    const inbound = s.mediaStreamTracks.find((t: any) => t.statsType == 'inbound-rtp');
    expect(inbound).toMatchObject({
      remoteUserID: 'bob',
      userID: 'bob',
      usageLabel: 'mic',
      associatedVideoTag: 'bob-audio',
      ssrc: '1111',
      mediaType: 'audio',
      bitrate: 40, // 500 packets × 100 bytes × 8 bits / 10 000 ms
      packetRate: 50,
      jitter: 12,
      averageJitter: 12,
      rtt: 20, // no remote-outbound-rtp: the selected pair's RTT
      audioOutputLevel: 0.1,
    });
    expect(inbound.fractionLoss).toBeCloseTo(10 / 510);
    expect(inbound.packetLossPercentage).toBeCloseTo(1000 / 510);
    expect(inbound.quality).toBe('good');
    const outbound = s.mediaStreamTracks.find((t: any) => t.statsType == 'outbound-rtp');
    expect(outbound).toMatchObject({ ssrc: '2222', bitrate: 40, fractionLoss: 0, jitter: 4, rtt: 30, quality: 'excellent', audioInputLevel: 0.2 });
    expect(s.streams['1111']).toMatchObject({ reportType: 'inbound-rtp', bitrate: 40 });
    // Samples go to the server with every report (less the certificate DER).
    await settle(5000);
    const samples = sent('stats_sample');
    expect(samples).toHaveLength(2);
    expect(samples[1].data.stats.find((r: any) => r.id == 'IN1')).toMatchObject({ packetsReceived: 500, bytesReceived: 50000, ssrc: 1111 });
    expect(samples[1].data.stats.find((r: any) => r.id == 'CERT')).toEqual({ id: 'CERT', type: 'certificate', timestamp: t0 + 10000, fingerprint: 'AB:CD' });
  });

  it('the statsInterval setting changes the period', async () => {
    const { pc, stats } = monitored({ statsInterval: 2000 });
    pc.reports = rtpReports(Date.now(), 0);
    pc.set('connectionState', 'connected');
    await settle(300);
    for (let i = 1; i <= 3; i++) {
      pc.reports = rtpReports(Date.now() + 2000, i * 100);
      await settle(2000);
    }
    expect(stats).toHaveLength(3);
  });

  it('includes Wi-Fi stats from attachWifiStatsHandler', async () => {
    const { cs, pc } = monitored();
    cs.attachWifiStatsHandler(() => Promise.resolve(JSON.stringify({ signal: 20, rssi: -1, timestamp: 5, interface: 'en0', addresses: ['a', 3] })));
    pc.reports = rtpReports(Date.now(), 0);
    await settle();
    pc.set('connectionState', 'connected');
    await settle(5300);
    expect(sent('stats_sample')[0].data.wifiStats).toEqual({ signal: 20, rssi: -1, timestamp: 5, interface: 'en0', addresses: ['a'] });
  });

  it('the quality bands follow the E-model R categories', () => {
    expect(quality(0, 0, 0)).toBe('excellent');
    expect(quality(0.02, 10, 50)).toBe('good');
    expect(quality(0.05, 20, 100)).toBe('fair');
    expect(quality(0, 100, 400)).toBe('bad');
    expect(quality(0.2)).toBe('bad');
  });
});

describe('termination', () => {
  it('pc.close() reports a last sample and fabric_terminated, and polling stops', async () => {
    const { pc } = monitored();
    pc.reports = rtpReports(Date.now(), 0);
    pc.set('iceConnectionState', 'connected');
    pc.set('connectionState', 'connected');
    await settle(300);
    pc.reports = rtpReports(Date.now() + 3000, 100);
    pc.close();
    expect(pc.closed).toBe(1);
    await settle(1300);
    const kinds = sent().map((e) => e.kind).filter((k) => k != 'fabric_state_change');
    expect(kinds.slice(-3)).toEqual(['stats_sample', 'ice_status', 'fabric_terminated']);
    expect(sent('fabric_terminated')[0].data).toMatchObject({ remoteID: 'bob', reason: 'closed' });
    expect(sent('ice_status')[0].data.eventType).toBe('iceTerminated');
    const n = sent('stats_sample').length;
    await settle(30000);
    expect(sent('stats_sample')).toHaveLength(n);
    pc.close();
    expect(pc.closed).toBe(2);
    expect(sent('fabric_terminated')).toHaveLength(1);
  });

  it('a fabric closed before it connected is aborted', async () => {
    const { pc } = monitored();
    pc.set('iceConnectionState', 'checking');
    pc.close();
    await settle(1300);
    expect(sent('ice_status').map((e) => e.data.eventType)).toEqual(['iceAborted']);
    expect(sent('fabric_terminated')).toHaveLength(1);
    expect(sent('stats_sample')).toHaveLength(0);
  });

  it('on page unload terminates every fabric, leaves, and flushes with sendBeacon', async () => {
    const beacons: [string, Blob][] = [];
    vi.stubGlobal('navigator', { onLine: true, sendBeacon: (u: string, b: Blob) => (beacons.push([u, b]), true) });
    const { cs, pc } = monitored();
    await settle(1);
    const pc2 = new FakePC();
    cs.addNewFabric(pc2, 'carol', 'audio', 'conf');
    win.dispatchEvent(new Event('pagehide'));
    expect(beacons).toHaveLength(1);
    expect(beacons[0][0]).toBe(SERVER + '/v1/apps/123/conferences/conf/batch?access_token=tok1');
    const events = JSON.parse(await beacons[0][1].text()).events;
    expect(events.filter((e: any) => e.kind == 'fabric_terminated').map((e: any) => [e.data.remoteID, e.data.reason])).toEqual([
      ['bob', 'pagehide'],
      ['carol', 'pagehide'],
    ]);
    expect(events.at(-1).kind).toBe('user_left');
    expect(pc.closed).toBe(0);
  });

  it('disableBeforeUnloadHandler leaves the fabrics alone on unload', async () => {
    const beacons: Blob[] = [];
    vi.stubGlobal('navigator', { onLine: true, sendBeacon: (_: string, b: Blob) => (beacons.push(b), true) });
    monitored({ disableBeforeUnloadHandler: true });
    await settle(1);
    win.dispatchEvent(new Event('pagehide'));
    const kinds = JSON.parse(await beacons[0].text()).events.map((e: any) => e.kind);
    expect(kinds).toEqual(['user_joined', 'fabric_created']);
  });

  it('sends user_alive every 10 s while a fabric is monitored', async () => {
    const { pc } = monitored();
    await settle(25000);
    expect(sent('user_alive')).toHaveLength(2);
    pc.close();
    await settle(31000);
    expect(sent('user_alive')).toHaveLength(2);
  });
});

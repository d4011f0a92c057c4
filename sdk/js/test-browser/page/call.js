// In-page scenarios of the browser end-to-end test. They use the SDK exactly as a web app
// would (the seed's steps 1 to 8), with two RTCPeerConnections in one page calling each other.
/* global callstats */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(100);
  }
}

/** Connects two PeerConnections in the page (offer/answer and trickle ICE, in-page signalling). */
async function connect(pc1, pc2) {
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
}

const ssrcsOf = (sdp) => [...new Set([...sdp.matchAll(/^a=ssrc:(\d+) /gm)].map((m) => m[1]))];

/** What the test asserts on, from one stats callback payload. */
const summarize = (s) => ({
  fabricState: s.fabricState,
  connectionState: s.connectionState,
  tracks: s.mediaStreamTracks.map((t) => ({
    statsType: t.statsType,
    mediaType: t.mediaType,
    ssrc: t.ssrc,
    bitrate: t.bitrate,
    packetRate: t.packetRate,
    fractionLoss: t.fractionLoss,
    jitter: t.jitter,
    rtt: t.rtt,
    quality: t.quality,
    userID: t.userID,
    usageLabel: t.usageLabel,
  })),
});

window.runCall = async ({ appID, appSecret, serverURL, conf }) => {
  const log = { init: [], stats: [], errors: [], pcCallbacks: [], results: {}, refused: {} };
  const config = {
    serverURL,
    applicationVersion: 'e2e-1.0',
    siteID: 'lab-1',
    additionalIDs: { customerID: 'e2e', sessionID: conf },
  };

  // Step 1: the legacy constructor arguments are accepted and ignored.
  const alice = new callstats(null, window.io, window.jsSHA);
  const bob = new callstats();

  // Step 2: initialize with AppID and AppSecret (bob with the object form of the user ID).
  log.results.initAlice = alice.initialize(appID, appSecret, 'alice', (s, m) => log.init.push(['alice', s, m]), null, config);
  log.results.initBob = bob.initialize(
    appID,
    appSecret,
    { userName: 'Bob Example', aliasName: 'bob' },
    (s, m) => log.init.push(['bob', s, m]),
    (stats) => log.stats.push(['bob', summarize(stats)]),
    config,
  );
  alice.on('stats', (stats) => log.stats.push(['alice', summarize(stats)]));
  alice.on('error', (s, m) => log.errors.push(['alice', s, m]));
  bob.on('error', (s, m) => log.errors.push(['bob', s, m]));

  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const pc1 = new RTCPeerConnection();
  const pc2 = new RTCPeerConnection();

  // Step 3: addNewFabric right after each PeerConnection is created.
  log.results.addAlice = alice.addNewFabric(
    pc1,
    'bob',
    alice.fabricUsage.multiplex,
    conf,
    { remoteEndpointType: callstats.endpointType.peer, fabricTransmissionDirection: callstats.transmissionDirection.sendrecv },
    (s, m) => log.pcCallbacks.push(['alice', s, m]),
  );
  log.results.addBob = bob.addNewFabric(pc2, 'alice', bob.fabricUsage.multiplex, conf, (s, m) =>
    log.pcCallbacks.push(['bob', s, m]),
  );

  for (const t of stream.getTracks()) pc1.addTrack(t, stream);
  const back = stream.clone();
  for (const t of back.getTracks()) pc2.addTrack(t, back);
  const started = Date.now();
  await connect(pc1, pc2);
  await waitFor(() => pc1.connectionState == 'connected' && pc2.connectionState == 'connected', 15000, 'connected');
  log.connectMs = Date.now() - started;

  // Step 6: associate the SSRCs of the local and remote descriptions with their users.
  for (const s of ssrcsOf(pc1.localDescription.sdp))
    log.results.mstLocal = alice.associateMstWithUserID(pc1, 'alice', conf, s, 'front-camera', 'local-video');
  for (const s of ssrcsOf(pc1.remoteDescription.sdp))
    log.results.mstRemote = alice.associateMstWithUserID(pc1, 'bob', conf, s, 'remote-camera', 'remote-video');

  // Step 5: a fabric event.
  log.results.mute = alice.sendFabricEvent(pc1, alice.fabricEvent.audioMute, conf);
  log.results.unmute = alice.sendFabricEvent(pc1, alice.fabricEvent.audioUnmute, conf);

  // Bad arguments are refused on the spot and never reach the server.
  log.refused.usage = alice.addNewFabric(new RTCPeerConnection(), 'carol', 'quadruplex', conf);
  log.refused.feedback = alice.sendUserFeedback(conf, { userID: 'alice', overall: 6 });
  log.refused.label = alice.associateMstWithUserID(pc1, 'alice', conf, 1234, 'a-usage-label-over-20-bytes');
  log.refused.event = alice.sendFabricEvent(pc1, 'fabricExploded', conf);

  // Step 8: the stats callback fires every 10 s per PeerConnection with a non-zero bitrate.
  const flowing = (who, kind) =>
    log.stats.some(([w, s]) => w == who && s.tracks.some((t) => t.statsType == 'inbound-rtp' && t.mediaType == kind && t.bitrate > 0));
  await waitFor(
    () => ['alice', 'bob'].every((who) => flowing(who, 'audio') && flowing(who, 'video')),
    35000,
    'stats callbacks with a bitrate',
  );

  // Step 7: user feedback at the end of the call.
  log.results.feedbackAlice = alice.sendUserFeedback(conf, { userID: 'alice', overall: 4, audio: 5, comment: 'e2e call' }, (s, m) =>
    log.pcCallbacks.push(['alice-feedback', s, m]),
  );
  log.results.feedbackBob = bob.sendUserFeedback(conf, { userID: 'bob', overall: 3 });

  // Hang up: closing the PeerConnections reports fabricTerminated by itself.
  pc1.close();
  pc2.close();
  for (const t of [...stream.getTracks(), ...back.getTracks()]) t.stop();
  log.callMs = Date.now() - started;
  // Let the batches go out (urgent events are sent within a fraction of a second).
  await waitFor(() => log.pcCallbacks.some(([w]) => w == 'alice-feedback'), 15000, 'feedback acknowledged');
  await sleep(1500);
  return log;
};

window.badInitialize = ({ appID, appSecret, serverURL }) => {
  const cs = new callstats();
  return [
    cs.initialize(appID, appSecret, '', null, null, { serverURL }),
    cs.initialize(appID, appSecret, 'alice', null, null, { serverURL, applicationVersion: 'x'.repeat(31) }),
    cs.initialize('not an app id', appSecret, 'alice', null, null, { serverURL }),
    cs.addNewFabric(new RTCPeerConnection(), 'bob', 'multiplex', 'conf-1'),
  ];
};

/**
 * A call whose ICE cannot connect (every candidate is rewritten to an unreachable TEST-NET
 * address), and errors reported with reportError().
 */
window.runFailingCall = async ({ appID, appSecret, serverURL, conf }) => {
  const log = { init: [], errors: [], results: {} };
  const carol = new callstats();
  log.results.init = carol.initialize(appID, appSecret, 'carol', (s, m) => log.init.push([s, m]), null, { serverURL });
  carol.on('error', (s, m) => log.errors.push([s, m]));
  const pc1 = new RTCPeerConnection();
  const pc2 = new RTCPeerConnection();
  log.results.add1 = carol.addNewFabric(pc1, 'dave', carol.fabricUsage.data, conf);
  log.results.add2 = carol.addNewFabric(pc2, 'erin', carol.fabricUsage.data, conf);
  const unreachable = (c) =>
    new RTCIceCandidate({ candidate: c.candidate.replace(/ \S+ (\d+) typ/, ' 192.0.2.1 $1 typ'), sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
  pc1.onicecandidate = (e) => e.candidate?.candidate && pc2.addIceCandidate(unreachable(e.candidate));
  pc2.onicecandidate = (e) => e.candidate?.candidate && pc1.addIceCandidate(unreachable(e.candidate));
  pc1.createDataChannel('chat');
  try {
    await pc1.setLocalDescription(await pc1.createOffer());
  } catch (err) {
    carol.reportError(pc1, conf, carol.webRTCFunctions.createOffer, err);
  }
  // A DOMException as a failed createOffer() gives it, and a real one from the browser.
  log.results.reportCreateOffer = carol.reportError(pc1, conf, carol.webRTCFunctions.createOffer, new DOMException('no codecs in common', 'OperationError'), pc1.localDescription);
  try {
    await pc2.setRemoteDescription({ type: 'answer', sdp: 'v=0\r\n' });
  } catch (err) {
    log.realError = `${err.name}: ${err.message}`;
    log.results.reportSrd = carol.reportError(pc2, conf, carol.webRTCFunctions.setRemoteDescription, err);
  }
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
  await waitFor(() => pc1.connectionState == 'failed' && pc2.connectionState == 'failed', 40000, 'ICE failure');
  await sleep(1500);
  pc1.close();
  pc2.close();
  await sleep(1500);
  return log;
};

/** A connected call that the test then leaves by navigating away (the unload path). */
window.startCall = async ({ appID, appSecret, serverURL, conf }) => {
  const acked = [];
  const users = ['frank', 'grace'].map((u) => {
    const cs = new callstats();
    cs.initialize(appID, appSecret, u, null, null, { serverURL });
    return cs;
  });
  const pcs = [new RTCPeerConnection(), new RTCPeerConnection()];
  users[0].addNewFabric(pcs[0], 'grace', 'audio', conf, (s) => acked.push(s));
  users[1].addNewFabric(pcs[1], 'frank', 'audio', conf, (s) => acked.push(s));
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  for (const t of stream.getTracks()) pcs[0].addTrack(t, stream);
  await connect(pcs[0], pcs[1]);
  await waitFor(() => pcs.every((pc) => pc.connectionState == 'connected'), 15000, 'connected');
  await waitFor(() => acked.length == 2, 10000, 'fabrics acknowledged');
  // Something still queued when the page goes: sent by the beacon.
  users[0].sendFabricEvent(pcs[0], 'audioMute', conf);
  window.stillOpen = pcs;
  return acked;
};

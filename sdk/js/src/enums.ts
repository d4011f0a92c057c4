// The callstats.js v3 enumerations, spelled exactly as callstats documented them
// (shared/reference/callstats-js-enums.md) and as schemas/src/enums.rs accepts them.

type Enum<T extends string> = { readonly [K in T]: K };

const make = <T extends string>(...values: T[]): Enum<T> =>
  Object.freeze(Object.fromEntries(values.map((v) => [v, v]))) as Enum<T>;

export const fabricUsage = make('multiplex', 'audio', 'video', 'screen', 'data', 'unbundled');

export const fabricEvent = make(
  'fabricHold',
  'fabricResume',
  'audioMute',
  'audioUnmute',
  'videoPause',
  'videoResume',
  'fabricTerminated',
  'screenShareStart',
  'screenShareStop',
  'dominantSpeaker',
  'activeDeviceList',
);

export const webRTCFunctions = make(
  'getUserMedia',
  'createOffer',
  'createAnswer',
  'setLocalDescription',
  'setRemoteDescription',
  'addIceCandidate',
  'iceConnectionFailure',
  'signalingError',
  'applicationLog',
);

export const endpointType = make('peer', 'server');

export const transmissionDirection = make('sendonly', 'receiveonly', 'sendrecv', 'inactive');

export const userIDType = make('local', 'remote');

/** The first argument of csInitCallback and of on('error') listeners. */
export const csStatus = make('httpError', 'authError', 'success', 'tokenGenerationError');

export const callStatsAPIReturnStatus = make('success', 'failure');

export const qualityRating = Object.freeze({ excellent: 5, good: 4, fair: 3, poor: 2, bad: 1 });

export const enums = {
  fabricUsage,
  fabricEvent,
  webRTCFunctions,
  endpointType,
  transmissionDirection,
  userIDType,
  csStatus,
  callStatsAPIReturnStatus,
  qualityRating,
};

export type CsStatus = keyof typeof csStatus;

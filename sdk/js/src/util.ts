// Small helpers shared by every module: API return values, argument checks, ids, endpoint info.
// Limits are those of schemas/src/limits.rs, so that nothing the SDK accepts is refused by ingest.

export interface ApiResult {
  status: 'success' | 'failure';
  msg: string;
}

export const ok = (msg = 'success'): ApiResult => ({ status: 'success', msg });
export const fail = (msg: string): ApiResult => ({ status: 'failure', msg });

// Mutable so tests can pin time; the SDK uses wall-clock milliseconds throughout.
export const clock = { now: (): number => Date.now() };
export const now = (): number => clock.now();

const encoder = new TextEncoder();
export const bytes = (s: string): number => encoder.encode(s).length;
const chars = (s: string): number => [...s].length;

export const isFn = (v: unknown): v is (...a: any[]) => any => typeof v == 'function';
export const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v == 'object';

/**
 * Checks a string argument; returns '' when valid, else the reason.
 * `id`: an identifier (no control characters, as ingest requires). `opt`: undefined/null allowed.
 */
export function checkStr(
  v: unknown,
  name: string,
  max: number,
  opt = false,
  unit: 'bytes' | 'characters' = 'bytes',
  id = true,
): string {
  if (v == null && opt) return '';
  if (typeof v != 'string' || (!v && !opt)) return `${name} must be a non-empty string`;
  if ((unit == 'bytes' ? bytes(v) : chars(v)) > max) return `${name} exceeds ${max} ${unit}`;
  // eslint-disable-next-line no-control-regex
  if (id && /[\x00-\x1f\x7f-\x9f]/.test(v)) return `${name} must not contain control characters`;
  return '';
}

export interface UserInfo {
  userName?: string;
  aliasName?: string;
  loginID?: string;
}

/**
 * A callstats user ID: a string of at most 128 bytes, or (callstats.js ≥ 3.14) an object
 * {userName, aliasName, loginID?} whose aliasName is the ID. Returns [error, id, info].
 */
export function checkUser(v: unknown, name: string): [string, string, UserInfo?] {
  if (typeof v == 'string') return [checkStr(v, name, 128), v];
  if (!isObj(v)) return [`${name} must be a string or an object {userName, aliasName}`, ''];
  const e =
    checkStr(v.userName, name + '.userName', 128, false, 'characters', false) ||
    checkStr(v.aliasName, name + '.aliasName', 128, false, 'characters') ||
    checkStr(v.aliasName, name + '.aliasName', 128) ||
    checkStr(v.loginID, name + '.loginID', 128, true, 'characters', false);
  const info: UserInfo = { userName: v.userName, aliasName: v.aliasName, loginID: v.loginID };
  return [e, v.aliasName, info];
}

/** '' when `v` is one of the enum's values. */
export const checkEnum = (v: unknown, e: object, name: string): string =>
  typeof v == 'string' && Object.prototype.hasOwnProperty.call(e, v)
    ? ''
    : `${name} must be one of ${Object.keys(e).join(', ')}`;

export const randomId = (): string => {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return hex(b);
};

export const hex = (buf: ArrayBuffer | Uint8Array): string =>
  Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

/** endpointInfo of user_joined, from the user agent (schemas EndpointInfo). */
export function endpointInfo(appVersion?: string): Record<string, string | undefined> {
  const ua = typeof navigator == 'object' ? navigator.userAgent || '' : '';
  const find = (list: [string, RegExp][]): [string?, string?] => {
    for (const [n, re] of list) {
      const m = ua.match(re);
      if (m) return [n, (m[1] || '').replace(/_/g, '.')];
    }
    return [];
  };
  const [name, version] = find([
    ['Edge', /Edg(?:e|A|iOS)?\/([\d.]+)/],
    ['Opera', /OPR\/([\d.]+)/],
    ['Firefox', /(?:Firefox|FxiOS)\/([\d.]+)/],
    ['Chrome', /(?:Chrome|Chromium|CriOS)\/([\d.]+)/],
    ['Safari', /Version\/([\d.]+).*Safari/],
  ]);
  const [os, osVersion] = find([
    ['Windows', /Windows NT ([\d.]+)/],
    ['Android', /Android ([\d.]+)/],
    ['iOS', /OS ([\d_]+) like Mac/],
    ['macOS', /Mac OS X ([\d_.]+)/],
    ['ChromeOS', /CrOS \S+ ([\d.]+)/],
    ['Linux', /Linux()/],
  ]);
  return {
    type: 'browser',
    os,
    osVersion: osVersion || undefined,
    name,
    version,
    appVersion: appVersion || undefined,
  };
}

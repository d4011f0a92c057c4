// Authentication with callscope ingest (ingest/src/http.rs, ingest/src/auth.rs):
// - basic: the 4-way handshake. POST /v1/auth/challenge {appID, userID} → {challenge, expiresIn};
//   POST /v1/auth/response {challenge, response = hex(HMAC-SHA256(AppSecret, challenge))} → token.
//   The AppSecret never leaves the browser.
// - third party: the application's tokenGenerator(forcenew, cb(err, jwt)) supplies a JWT that is
//   exchanged at POST /authenticate (form grant_type=authorization_code, code, client_id=user@app).
// Both answer {access_token, token_type: "bearer", expires_in}.

import type { CsStatus } from './enums';
import { hex, now } from './util';

export type TokenGenerator = (forceNew: boolean, cb: (err: unknown, token?: string) => void) => void;

/** Why no token could be had: the csStatus to report, and whether trying again later may help. */
export interface AuthFailure {
  status: CsStatus;
  msg: string;
  retry: boolean;
  /** Server-requested delay before retrying, ms. */
  after?: number;
}

const failure = (status: CsStatus, msg: string, retry: boolean, after?: number): AuthFailure => ({
  status,
  msg,
  retry,
  after,
});

/** hex(HMAC-SHA256(key, message)), both UTF-8, with WebCrypto. */
export async function hmacHex(key: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw failure('authError', 'WebCrypto is unavailable: serve the page over HTTPS', false);
  const k = await subtle.importKey('raw', enc.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  return hex(await subtle.sign('HMAC', k, enc.encode(message)));
}

/** Seconds of a Retry-After header as ms (HTTP dates are not used by ingest). */
export const retryAfter = (r: Response): number | undefined => {
  const s = parseFloat(r.headers.get('retry-after') || '');
  return s >= 0 ? s * 1000 : undefined;
};

async function post(url: string, body: string, type: string): Promise<[Response, any]> {
  let r: Response;
  try {
    r = await fetch(url, { method: 'POST', headers: { 'Content-Type': type }, body });
  } catch (e) {
    throw failure('httpError', `cannot reach ${url}: ${e}`, true);
  }
  let json: any = {};
  try {
    json = await r.json();
  } catch {
    /* a body that is not JSON says nothing more than the status */
  }
  // Overload or an unreachable backend is worth retrying; anything else is a verdict.
  if (r.status == 429 || r.status >= 500)
    throw failure('httpError', `${url} answered ${r.status}`, true, retryAfter(r));
  return [r, json];
}

export class Auth {
  token?: string;
  private expires = 0;
  private pending?: Promise<string>;

  constructor(
    private base: string,
    private appID: string,
    private userID: string,
    private credential: string | TokenGenerator,
  ) {}

  /** A valid token, authenticating (once, however many callers wait) when there is none. */
  get(): Promise<string> {
    if (this.token && now() < this.expires) return Promise.resolve(this.token);
    return (this.pending ||= this.fetch().finally(() => (this.pending = undefined)));
  }

  /** Forget the token (the server said it expired). */
  invalidate(): void {
    this.token = undefined;
  }

  private async fetch(): Promise<string> {
    const j = typeof this.credential == 'string' ? await this.basic(this.credential) : await this.jwt(this.credential);
    if (!j.access_token) throw failure('authError', 'no access_token in the answer', false);
    this.token = j.access_token as string;
    // Renew a minute before expiry (at most halfway), so no batch is sent with a dying token.
    const ttl = (+j.expires_in || 7200) * 1000;
    this.expires = now() + Math.max(ttl / 2, ttl - 60000);
    return this.token;
  }

  private async basic(secret: string): Promise<any> {
    const json = 'application/json';
    const [r1, c] = await post(
      this.base + '/v1/auth/challenge',
      JSON.stringify({ appID: this.appID, userID: this.userID }),
      json,
    );
    if (!r1.ok || !c.challenge) throw failure('authError', `challenge refused (${r1.status}): ${c.msg || ''}`, false);
    const response = await hmacHex(secret, c.challenge);
    const [r2, t] = await post(this.base + '/v1/auth/response', JSON.stringify({ challenge: c.challenge, response }), json);
    if (!r2.ok) throw failure('authError', `handshake failed (${r2.status}): ${t.msg || ''}`, false);
    return t;
  }

  private async jwt(gen: TokenGenerator): Promise<any> {
    for (let attempt = 0; ; attempt++) {
      const code = await new Promise<string>((resolve, reject) => {
        try {
          gen(attempt > 0, (err, token) =>
            err || !token
              ? reject(failure('tokenGenerationError', String(err || 'the token generator gave no token'), false))
              : resolve(token),
          );
        } catch (e) {
          reject(failure('tokenGenerationError', String(e), false));
        }
      });
      const form = new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        client_id: `${this.userID}@${this.appID}`,
      });
      const [r, j] = await post(this.base + '/authenticate', form.toString(), 'application/x-www-form-urlencoded');
      if (r.ok) return j;
      const action = j['urn:x-callstats:auth:errorActions']?.[0];
      const msg = `${j.error || r.status}: ${j.errorReason || ''}`;
      if (action?.action == 'GET_NEW_TOKEN' && attempt < 2) continue;
      if (action?.action == 'RETRY') throw failure('httpError', msg, true, +action.params?.timeout || undefined);
      throw failure('authError', msg, false);
    }
  }
}

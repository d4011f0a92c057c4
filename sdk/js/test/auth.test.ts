import { afterEach, describe, expect, it, vi } from 'vitest';
import { Auth, hmacHex } from '../src/auth';
import { fakeServer, fakeTimers } from './helpers';

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('hmacHex', () => {
  it('matches RFC 4231 test case 2', async () => {
    expect(await hmacHex('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('encodes key and message as UTF-8', async () => {
    const { createHmac } = await import('node:crypto');
    const want = createHmac('sha256', 'sécret✓').update('chällenge').digest('hex');
    expect(await hmacHex('sécret✓', 'chällenge')).toBe(want);
  });
});

describe('basic handshake', () => {
  it('answers the challenge with the HMAC and never sends the secret', async () => {
    const srv = fakeServer({ secret: 'app-secret' });
    vi.stubGlobal('fetch', srv.fetch);
    const auth = new Auth('https://cs.example', '123', 'alice', 'app-secret');
    expect(await auth.get()).toBe('tok1');
    expect(srv.calls.map((c) => c.url)).toEqual([
      'https://cs.example/v1/auth/challenge',
      'https://cs.example/v1/auth/response',
    ]);
    expect(srv.calls[0].body).toEqual({ appID: '123', userID: 'alice' });
    expect(srv.calls[1].body.challenge).toBe('ch-1');
    expect(srv.calls[1].body.response).toMatch(/^[0-9a-f]{64}$/);
    expect(srv.calls.some((c) => c.raw.includes('app-secret'))).toBe(false);
  });

  it('reuses the token until it nears expiry, and authenticates once for concurrent callers', async () => {
    fakeTimers();
    const srv = fakeServer({ secret: 's' });
    vi.stubGlobal('fetch', srv.fetch);
    const auth = new Auth('https://cs.example', '123', 'alice', 's');
    const [a, b] = await Promise.all([auth.get(), auth.get()]);
    expect([a, b]).toEqual(['tok1', 'tok1']);
    expect(srv.calls.length).toBe(2);
    vi.setSystemTime(Date.now() + 7200_000 - 61_000);
    expect(await auth.get()).toBe('tok1');
    vi.setSystemTime(Date.now() + 2_000);
    expect(await auth.get()).toBe('tok2');
    auth.invalidate();
    expect(await auth.get()).toBe('tok3');
  });

  it('a wrong secret is an authError, not retried', async () => {
    vi.stubGlobal('fetch', fakeServer({ secret: 'right' }).fetch);
    await expect(new Auth('https://x', '1', 'u', 'wrong').get()).rejects.toMatchObject({ status: 'authError', retry: false });
  });

  it('an unknown app (404) is an authError', async () => {
    vi.stubGlobal('fetch', fakeServer({ authReplies: [{ status: 404, body: { status: 'error', msg: 'unknown app' } }] }).fetch);
    await expect(new Auth('https://x', '1', 'u', 's').get()).rejects.toMatchObject({
      status: 'authError',
      retry: false,
      msg: expect.stringContaining('unknown app'),
    });
  });

  it('network errors and 5xx are retriable httpErrors, with Retry-After', async () => {
    vi.stubGlobal('fetch', fakeServer({ authReplies: ['network'] }).fetch);
    await expect(new Auth('https://x', '1', 'u', 's').get()).rejects.toMatchObject({ status: 'httpError', retry: true });
    vi.stubGlobal('fetch', fakeServer({ authReplies: [{ status: 503, headers: { 'retry-after': '7' } }] }).fetch);
    await expect(new Auth('https://x', '1', 'u', 's').get()).rejects.toMatchObject({ status: 'httpError', retry: true, after: 7000 });
  });
});

describe('third-party authentication', () => {
  const actions = (action: string, params?: any) => ({
    status: 400,
    body: { error: 'invalid_grant', errorReason: 'INVALID_TOKEN: expired', 'urn:x-callstats:auth:errorActions': [{ action, params }] },
  });

  it('exchanges the JWT from the token generator at /authenticate', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const gen = vi.fn((force: boolean, cb: (e: unknown, t?: string) => void) => cb(null, force ? 'jwt-new' : 'jwt-cached'));
    expect(await new Auth('https://x', '42', 'alice', gen).get()).toBe('tok1');
    expect(gen).toHaveBeenCalledWith(false, expect.any(Function));
    const form = new URLSearchParams(srv.calls[0].raw);
    expect(srv.calls[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(form)).toEqual({ grant_type: 'authorization_code', code: 'jwt-cached', client_id: 'alice@42' });
  });

  it('GET_NEW_TOKEN asks the generator for a new token (forcenew)', async () => {
    const srv = fakeServer({ authReplies: [actions('GET_NEW_TOKEN')] });
    vi.stubGlobal('fetch', srv.fetch);
    const gen = vi.fn((force: boolean, cb: (e: unknown, t?: string) => void) => cb(null, force ? 'jwt-new' : 'jwt-old'));
    expect(await new Auth('https://x', '42', 'alice', gen).get()).toBe('tok1');
    expect(gen.mock.calls.map((c) => c[0])).toEqual([false, true]);
    expect(new URLSearchParams(srv.calls[1].raw).get('code')).toBe('jwt-new');
  });

  it('gives up after repeated GET_NEW_TOKEN, and on REPORT_ERROR', async () => {
    const gen = (_: boolean, cb: (e: unknown, t?: string) => void) => cb(null, 'jwt');
    vi.stubGlobal('fetch', fakeServer({ authReplies: [actions('GET_NEW_TOKEN'), actions('GET_NEW_TOKEN'), actions('GET_NEW_TOKEN')] }).fetch);
    await expect(new Auth('https://x', '1', 'u', gen).get()).rejects.toMatchObject({ status: 'authError', retry: false });
    vi.stubGlobal('fetch', fakeServer({ authReplies: [actions('REPORT_ERROR')] }).fetch);
    await expect(new Auth('https://x', '1', 'u', gen).get()).rejects.toMatchObject({
      status: 'authError',
      msg: expect.stringContaining('INVALID_TOKEN'),
    });
  });

  it('RETRY is a retriable error with the server timeout', async () => {
    const gen = (_: boolean, cb: (e: unknown, t?: string) => void) => cb(null, 'jwt');
    vi.stubGlobal('fetch', fakeServer({ authReplies: [actions('RETRY', { timeout: 2500 })] }).fetch);
    await expect(new Auth('https://x', '1', 'u', gen).get()).rejects.toMatchObject({ status: 'httpError', retry: true, after: 2500 });
  });

  it('a failing token generator is a tokenGenerationError', async () => {
    vi.stubGlobal('fetch', fakeServer().fetch);
    await expect(new Auth('https://x', '1', 'u', (_, cb) => cb('no session')).get()).rejects.toMatchObject({
      status: 'tokenGenerationError',
      msg: 'no session',
    });
    await expect(
      new Auth('https://x', '1', 'u', () => {
        throw new Error('boom');
      }).get(),
    ).rejects.toMatchObject({ status: 'tokenGenerationError' });
  });
});

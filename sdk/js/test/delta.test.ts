import { describe, expect, it } from 'vitest';
import { apply, compose, diff, encode, State, Update } from '../src/delta';

const r = (id: string, t: number, extra: Record<string, unknown> = {}) => ({ id, type: 'inbound-rtp', timestamp: t, ssrc: 1, kind: 'audio', ...extra });

describe('delta codec', () => {
  it('keeps only changed members, plus id/type/timestamp', () => {
    const a = r('A', 1, { packetsReceived: 10, packetsLost: 0, codecId: 'C' });
    const b = r('A', 2, { packetsReceived: 20, packetsLost: 0, codecId: 'C' });
    expect(diff(undefined, a)).toBe(a);
    expect(diff(a, b)).toEqual({ id: 'A', type: 'inbound-rtp', timestamp: 2, packetsReceived: 20 });
    // A vanished member is null; a nested value compares by content.
    expect(diff({ ...a, x: [1, 2] }, { ...b, x: [1, 2] })).toEqual({ id: 'A', type: 'inbound-rtp', timestamp: 2, packetsReceived: 20 });
    expect(diff(a, r('A', 3, { packetsReceived: 30, codecId: 'C' }))).toMatchObject({ packetsLost: null });
  });

  it('expansion gives back every sample exactly', () => {
    const samples = [
      [r('A', 1, { n: 1, lost: 0 }), { id: 'C', type: 'codec', timestamp: 1, mimeType: 'audio/opus' }],
      [r('A', 2, { n: 5, lost: 0 }), { id: 'C', type: 'codec', timestamp: 2, mimeType: 'audio/opus' }],
      [r('A', 3, { n: 9 }), r('B', 3, { n: 1 })],
      [r('A', 4, { n: 9, lost: 2 }), r('B', 4, { n: 2 }), { id: 'C', type: 'codec', timestamp: 4, mimeType: 'audio/opus' }],
    ];
    const enc: State = {};
    let dec: State = {};
    for (const s of samples) {
      const u = encode(enc, s);
      const next = apply(dec, u);
      expect(s.map((x) => next[x.id])).toEqual(s);
      dec = { ...dec, ...next };
    }
  });

  it('composing two updates equals applying both (so a dropped sample folds into the next)', () => {
    // Random sequences of reports whose members appear, change and vanish.
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 200; round++) {
      const enc: State = {};
      const updates: Update[] = [];
      const samples: any[][] = [];
      for (let i = 0; i < 4; i++) {
        const s = ['A', 'B', 'C']
          .filter(() => rnd(4) > 0)
          .map((id) => {
            const x: any = { id, type: 't', timestamp: i };
            for (const k of ['p', 'q', 'w']) if (rnd(3) > 0) x[k] = rnd(3);
            return x;
          });
        samples.push(s);
        updates.push(encode(enc, s));
      }
      // Drop sample 1 (fold into 2): sample 2 onwards still expands exactly.
      const folded = [updates[0], compose(updates[1], updates[2]), updates[3]];
      let st: State = {};
      for (const [j, u] of folded.entries()) {
        const next = apply(st, u);
        const want = samples[j == 0 ? 0 : j + 1];
        expect(want.map((x) => next[x.id])).toEqual(want);
        st = { ...st, ...next };
      }
    }
  });

  it('apply never modifies the state it reads', () => {
    const st: State = { A: r('A', 1, { n: 1 }) };
    const copy = JSON.parse(JSON.stringify(st));
    apply(st, { A: { id: 'A', type: 'inbound-rtp', timestamp: 2, n: 2, kind: null } });
    expect(st).toEqual(copy);
  });
});

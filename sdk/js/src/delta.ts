// Delta compression of getStats samples, used for the SDK's send queue (see docs/sdk.md,
// "Stats samples"). A sample is kept in the queue as an Update: for each report id, only the
// members that changed since the previous sample of the same PeerConnection (always with
// id/type/timestamp; a new id is kept whole; a member that disappeared is null), plus the ordered
// list of ids the sample contained. Samples are expanded back to full reports when a batch is
// serialized, so ingest and the processor always receive complete cumulative counters.

export type Report = Record<string, any>;
/** id → changed members of that report. */
export type Update = Record<string, Report>;
/** id → full report: what expanding every update so far has produced. */
export type State = Record<string, Report>;

const KEYS = ['id', 'type', 'timestamp'];

const same = (a: any, b: any): boolean =>
  a === b || (typeof a == 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));

/** The members of `cur` that differ from `prev` (a whole report when there is no `prev`). */
export function diff(prev: Report | undefined, cur: Report): Report {
  if (!prev) return cur;
  const d: Report = { id: cur.id, type: cur.type, timestamp: cur.timestamp };
  for (const k in cur) if (!KEYS.includes(k) && !same(cur[k], prev[k])) d[k] = cur[k];
  for (const k in prev) if (!(k in cur)) d[k] = null;
  return d;
}

/** Encodes a sample against (and advances) the encoder's state. */
export function encode(state: State, reports: Report[]): Update {
  const u: Update = {};
  for (const r of reports) {
    u[r.id] = diff(state[r.id], r);
    state[r.id] = r;
  }
  return u;
}

/** One update equivalent to applying `a` then `b` (used when a queued sample is dropped). */
export function compose(a: Update, b: Update): Update {
  const o: Update = { ...a };
  for (const id in b) o[id] = a[id] ? { ...a[id], ...b[id] } : b[id];
  return o;
}

/**
 * Applies an update to `state` without modifying it: returns the new reports by id, to be
 * merged into the state once the sample is known to be sent.
 */
export function apply(state: State, u: Update): State {
  const next: State = {};
  for (const id in u) {
    const r: Report = { ...state[id], ...u[id] };
    for (const k in r) if (r[k] === null) delete r[k];
    next[id] = r;
  }
  return next;
}

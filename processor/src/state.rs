//! The state of the conferences of one bus partition, built from envelopes in offset order.
//!
//! Pure: no I/O, no clock. The caller ([`crate::run`]) feeds envelopes with their bus position
//! and says whether their rows are already durable ([`Mode::Rebuild`]) or not ([`Mode::Live`]);
//! this module keeps the per-conference state, decides when a conference segment closes, and
//! collects the table rows in an [`Output`] that the caller takes at each flush.
//!
//! The rules (docs/processor.md, "Conferences"):
//! - a segment opens at the first event of a conference that has no open segment, except for
//!   epilogue events (user left, user alive, fabric terminated, feedback), which only produce
//!   row-table rows;
//! - it ends when every participant has left or terminated all its fabrics (`all_left`), and is
//!   closed `close_grace_ms` of event time later so that trailing events land in it; or it is
//!   closed when the partition's event clock (the highest `received_at_ms` seen) passes its last
//!   message + `conference_timeout_ms` (`timeout`); or by the caller (wall-clock idle timer,
//!   memory bound);
//! - every close is remembered in the partition's history (persisted in the checkpoint), so a
//!   replay after a restart closes the same segments at the same positions, skips messages of
//!   segments whose start is not replayed, and numbers late segments the same way.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use callscope_schemas::enums::{ConferenceEndReason, IceEventType, StateChangeType};
use callscope_schemas::envelope::APP_LEVEL_CONFERENCE_PREFIX;
use callscope_schemas::events::{
    IceCandidatePair, ReportError, StatsReport, StatsSample, UserFeedback,
};
use callscope_schemas::{Envelope, EventKind, Payload};
use serde::{Deserialize, Serialize};

use crate::packets::{PacketTotals, decimal};
use crate::quality::{
    Aggregate, CounterSnapshot, CounterTracker, FabricTimeline, FailureReason, IceState,
    IceTransition, Interval, Media, Outcome, ReportedError, Score, SetupFailure, TrackKind,
    TrackerConfig, Update, WebRtcFunction, evaluate, score_interval,
};
use crate::rows::{
    ColumnRows, ConferenceRow, ErrorRow, EventColumns, EventRow, FabricRow, FeedbackRow,
    IntegrationRow, StatsSampleColumns, StatsSampleRow, TrackQualityColumns, TrackQualityRow,
    UserQualityRow, utc_date,
};

/// `conferences.end_reason` of a segment closed to bound memory.
pub const END_REASON_EVICTED: &str = ConferenceEndReason::Evicted.as_str();
/// `conferences.end_reason` when every participant left or terminated its fabrics.
pub const END_REASON_ALL_LEFT: &str = ConferenceEndReason::AllLeft.as_str();
/// `conferences.end_reason` when nothing arrived for the conference timeout.
pub const END_REASON_TIMEOUT: &str = ConferenceEndReason::Timeout.as_str();

/// Settings of the state machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateConfig {
    /// A conference with no message for this long (event time) is closed.
    pub conference_timeout_ms: i64,
    /// Event time a conference that ended (everyone left) stays open for trailing events.
    pub close_grace_ms: i64,
    /// How long (event time) the segment number of a closed conference is remembered, so late
    /// data starts segment n + 1 instead of a second segment 0.
    pub late_window_ms: i64,
    pub tracker: TrackerConfig,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            conference_timeout_ms: 30_000,
            close_grace_ms: 10_000,
            late_window_ms: 3_600_000,
            tracker: TrackerConfig::default(),
        }
    }
}

/// Where an envelope was read: the record's offset in its partition and the envelope's index in
/// the record (a record may carry a batch).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Position {
    pub offset: i64,
    pub index: u32,
}

impl Position {
    #[must_use]
    pub const fn new(offset: i64, index: u32) -> Self {
        Self { offset, index }
    }
}

/// Whether an envelope's rows still have to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not yet durable: produce rows, apply every closing rule.
    Live,
    /// Already in durable files (offset ≤ the checkpoint's `flushed_through`): rebuild state
    /// only; segments close exactly where the history says they closed.
    Rebuild,
}

/// A conference: app and conference id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfKey {
    pub app_id: String,
    pub conference_id: String,
}

/// A closed segment, as remembered in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedSegment {
    pub segment: i32,
    /// The envelope that opened it.
    pub first: Position,
    /// The last envelope applied to it.
    pub last: Position,
    pub end_reason: String,
    /// `received_at_ms` of its last message.
    pub last_event_ms: i64,
}

/// The closed segments of one conference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub app_id: String,
    pub conference_id: String,
    pub segments: Vec<ClosedSegment>,
}

/// The summary rows of one closed segment, kept together so the writer can name their files
/// after the segment's first position.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub app_id: String,
    pub date: String,
    pub first: Position,
    pub conference: ConferenceRow,
    pub fabrics: Vec<FabricRow>,
    pub users: Vec<UserQualityRow>,
}

/// Rows produced since the last [`PartitionState::take_output`].
#[derive(Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
pub struct Output {
    // The three tables with rows for every sample are held as Arrow columns from the start (see
    // [`ColumnRows`]).
    pub events: ColumnRows<EventRow, EventColumns>,
    pub stats_samples: ColumnRows<StatsSampleRow, StatsSampleColumns>,
    pub track_quality: ColumnRows<TrackQualityRow, TrackQualityColumns>,
    pub errors: Vec<ErrorRow>,
    pub feedback: Vec<FeedbackRow>,
    pub integration: Vec<IntegrationRow>,
    pub summaries: Vec<Summary>,
}

impl Output {
    /// Rows of the per-message tables.
    #[must_use]
    pub fn row_count(&self) -> usize {
        self.events.len()
            + self.stats_samples.len()
            + self.track_quality.len()
            + self.errors.len()
            + self.feedback.len()
            + self.integration.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.row_count() == 0 && self.summaries.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Per-conference state
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct User {
    uc_id: Option<String>,
    endpoint_type: Option<String>,
    browser: Option<String>,
    browser_version: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    app_version: Option<String>,
    site_id: Option<String>,
    joined_at: Option<i64>,
    left_at: Option<i64>,
    left: bool,
    first_seen: i64,
    last_seen: i64,
    feedback_overall: Option<i32>,
}

/// Relay and candidate facts of a fabric's selected pair.
#[derive(Debug, Clone, Default)]
struct Relay {
    relayed: Option<bool>,
    relay_protocol: Option<String>,
    local_candidate_type: Option<String>,
    remote_candidate_type: Option<String>,
    transport_protocol: Option<String>,
}

impl Relay {
    fn is_known(&self) -> bool {
        self.relayed.is_some() || self.local_candidate_type.is_some()
    }

    fn from_pair(pair: &IceCandidatePair) -> Self {
        Relay {
            relayed: pair.is_relayed(),
            relay_protocol: pair.relay_protocol.map(|p| p.as_str().to_owned()),
            local_candidate_type: pair.local_candidate_type.map(|t| t.as_str().to_owned()),
            remote_candidate_type: pair.remote_candidate_type.map(|t| t.as_str().to_owned()),
            transport_protocol: pair.protocol.map(|p| p.as_str().to_owned()),
        }
    }
}

/// An entry of a fabric's SSRC map.
#[derive(Debug, Clone, Default)]
struct SsrcOwner {
    user_id: Option<String>,
    usage_label: Option<String>,
    track_identifier: Option<String>,
}

#[derive(Debug, Clone)]
struct Fabric {
    uc_id: Option<String>,
    remote_user_id: Option<String>,
    usage: Option<&'static str>,
    remote_endpoint_type: Option<&'static str>,
    direction: Option<&'static str>,
    timeline: FabricTimeline,
    created_at: Option<i64>,
    terminated_at: Option<i64>,
    terminated: bool,
    first_failure_at: Option<i64>,
    failure_reason: Option<&'static str>,
    failed_function: Option<&'static str>,
    relay: Relay,
    /// Relay facts from events win over those read from getStats candidate reports.
    relay_from_events: bool,
    transport_changes: i32,
    dropped_event: bool,
    terminated_reason: Option<String>,
    last_event_time: i64,
    last_received_at: i64,
    tracker: CounterTracker,
    /// Latest RTT of the selected candidate pair, for scoring inbound intervals (inbound-rtp
    /// carries no RTT of its own).
    rtt_ms: Option<f64>,
    ssrcs: HashMap<String, SsrcOwner>,
    /// Stats ids whose counters reset: their next interval is marked `after_gap`.
    after_reset: HashSet<String>,
    /// Cumulative packet counters per stream, for the fabric's per-direction totals.
    packets: PacketTotals,
    /// Client time of the first fabricDropped.
    dropped_at: Option<i64>,
}

impl Fabric {
    fn new(tracker: TrackerConfig, time: i64, received_at: i64) -> Self {
        Self {
            uc_id: None,
            remote_user_id: None,
            usage: None,
            remote_endpoint_type: None,
            direction: None,
            timeline: FabricTimeline::default(),
            created_at: None,
            terminated_at: None,
            terminated: false,
            first_failure_at: None,
            failure_reason: None,
            failed_function: None,
            relay: Relay::default(),
            relay_from_events: false,
            transport_changes: 0,
            dropped_event: false,
            terminated_reason: None,
            last_event_time: time,
            last_received_at: received_at,
            tracker: CounterTracker::new(tracker),
            rtt_ms: None,
            ssrcs: HashMap::new(),
            after_reset: HashSet::new(),
            packets: PacketTotals::default(),
            dropped_at: None,
        }
    }

    fn set_relay_from_events(&mut self, relay: Relay) {
        if relay.is_known() {
            self.relay = relay;
            self.relay_from_events = true;
        }
    }
}

/// Quality of the media associated with one user, per media kind (the scales differ).
#[derive(Debug, Clone, Default)]
struct Quality {
    audio: Aggregate,
    video: Aggregate,
}

#[derive(Debug, Clone)]
struct Conference {
    segment: i32,
    first: Position,
    last: Position,
    opened_ms: i64,
    /// `received_at_ms` of the first fabric creation: the conference start when known.
    start_ms: Option<i64>,
    last_ms: i64,
    /// When every participant had left or terminated (`received_at_ms`), while that holds.
    ended_ms: Option<i64>,
    /// Event-clock value at which the segment closes.
    deadline: i64,
    users: BTreeMap<String, User>,
    /// Keyed by (reporting user, connection id): connection ids are chosen by clients.
    /// By `(user_id, connection_id)`; looked up through [`PairKey`] without copying them.
    fabrics: BTreeMap<(String, String), Fabric>,
    quality: BTreeMap<String, Quality>,
    feedback_sum: i64,
    feedback_count: i32,
    /// (user, batchID) → the offset of the record that brought it: a record at another offset
    /// with the same pair is the SDK retrying a batch whose answer was lost.
    batches: HashMap<(String, String), i64>,
}

impl Conference {
    fn new(segment: i32, first: Position, received_at: i64) -> Self {
        Self {
            segment,
            first,
            last: first,
            opened_ms: received_at,
            start_ms: None,
            last_ms: received_at,
            ended_ms: None,
            deadline: i64::MAX,
            users: BTreeMap::new(),
            fabrics: BTreeMap::new(),
            quality: BTreeMap::new(),
            feedback_sum: 0,
            feedback_count: 0,
            batches: HashMap::new(),
        }
    }

    /// Every participant left, or terminated every fabric it had (a user without a fabric that
    /// has not left is still in the call).
    fn all_done(&self) -> bool {
        !self.users.is_empty()
            && self.users.iter().all(|(user_id, user)| {
                if user.left {
                    return true;
                }
                let from: &dyn PairKey = &(user_id.as_str(), "");
                let mut fabrics = self
                    .fabrics
                    .range::<dyn PairKey, _>((Bound::Included(from), Bound::Unbounded))
                    .take_while(|((u, _), _)| u == user_id)
                    .peekable();
                fabrics.peek().is_some() && fabrics.all(|(_, f)| f.terminated)
            })
    }

    fn compute_deadline(&self, config: &StateConfig) -> i64 {
        match self.ended_ms {
            Some(ended) => ended.saturating_add(config.close_grace_ms),
            // Closes once the clock is strictly past last + timeout.
            None => self
                .last_ms
                .saturating_add(config.conference_timeout_ms)
                .saturating_add(1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Partition state
// ---------------------------------------------------------------------------------------------

/// The open conferences of one partition, its event clock, its close history and the rows not
/// yet taken.
#[derive(Debug)]
pub struct PartitionState {
    partition: i32,
    config: StateConfig,
    open: HashMap<ConfKey, Conference>,
    /// (deadline, conference): the next to close first.
    deadlines: BTreeSet<(i64, ConfKey)>,
    clock_ms: Option<i64>,
    history: HashMap<ConfKey, Vec<ClosedSegment>>,
    out: Output,
    /// The conference of the last envelope applied: never evicted, or a new conference over
    /// the limit would evict itself at once.
    last_touched: Option<ConfKey>,
}

impl PartitionState {
    #[must_use]
    pub fn new(partition: i32, config: StateConfig) -> Self {
        Self {
            partition,
            config,
            open: HashMap::new(),
            deadlines: BTreeSet::new(),
            clock_ms: None,
            history: HashMap::new(),
            out: Output::default(),
            last_touched: None,
        }
    }

    /// A state resuming from a checkpoint's history and event clock.
    #[must_use]
    pub fn restored(
        partition: i32,
        config: StateConfig,
        history: Vec<HistoryEntry>,
        clock_ms: Option<i64>,
    ) -> Self {
        let mut state = Self::new(partition, config);
        state.clock_ms = clock_ms;
        for entry in history {
            let key = ConfKey {
                app_id: entry.app_id,
                conference_id: entry.conference_id,
            };
            state.history.insert(key, entry.segments);
        }
        state
    }

    #[must_use]
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The partition's event clock: the highest `received_at_ms` seen.
    #[must_use]
    pub fn clock_ms(&self) -> Option<i64> {
        self.clock_ms
    }

    #[must_use]
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Rows of the per-message tables waiting to be taken.
    #[must_use]
    pub fn pending_rows(&self) -> usize {
        self.out.row_count()
    }

    /// The first offset of the oldest open conference: offsets are never committed past it, so
    /// its state can be rebuilt by replay.
    #[must_use]
    pub fn oldest_open_offset(&self) -> Option<i64> {
        self.open.values().map(|c| c.first.offset).min()
    }

    /// The open conference closest to its deadline (the one idle the longest), except the one
    /// that just received a message: the best candidate to evict.
    fn eviction_candidate(&self) -> Option<&(i64, ConfKey)> {
        self.deadlines
            .iter()
            .find(|(_, key)| self.last_touched.as_ref() != Some(key))
    }

    /// The deadline of [`Self::evict_one`]'s candidate, to choose among partitions.
    #[must_use]
    pub fn next_deadline(&self) -> Option<i64> {
        self.eviction_candidate().map(|(d, _)| *d)
    }

    /// Takes the rows produced so far.
    pub fn take_output(&mut self) -> Output {
        std::mem::take(&mut self.out)
    }

    /// The history to persist, after forgetting what no replay can need: segments whose last
    /// message is below `committed` (a replay starts at or after it) unless they are the
    /// conference's latest segment and ended within the late window (its number is needed to
    /// number late data).
    pub fn history(&mut self, committed: Option<i64>) -> Vec<HistoryEntry> {
        let horizon = self
            .clock_ms
            .map_or(i64::MIN, |c| c.saturating_sub(self.config.late_window_ms));
        self.history.retain(|_, segments| {
            let latest = segments.iter().map(|s| s.segment).max();
            segments.retain(|s| {
                committed.is_none_or(|c| s.last.offset >= c)
                    || (Some(s.segment) == latest && s.last_event_ms >= horizon)
            });
            !segments.is_empty()
        });
        let mut entries: Vec<HistoryEntry> = self
            .history
            .iter()
            .map(|(key, segments)| HistoryEntry {
                app_id: key.app_id.clone(),
                conference_id: key.conference_id.clone(),
                segments: segments.clone(),
            })
            .collect();
        entries.sort_by(|a, b| (&a.app_id, &a.conference_id).cmp(&(&b.app_id, &b.conference_id)));
        entries
    }

    /// Closes every conference whose deadline is at or before `now_ms`. The caller uses it with
    /// the wall clock when the partition has been silent for the conference timeout.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let mut closed = 0;
        while let Some((deadline, key)) = self.deadlines.first().cloned() {
            if deadline > now_ms {
                break;
            }
            self.close(&key, END_REASON_TIMEOUT, Mode::Live);
            closed += 1;
        }
        closed
    }

    /// Closes the conference that would close next (the oldest idle one, but not the one that
    /// just received a message) with end reason `evicted`, to bound memory. `false` when there
    /// is none.
    pub fn evict_one(&mut self) -> bool {
        let Some((_, key)) = self.eviction_candidate().cloned() else {
            return false;
        };
        self.close(&key, END_REASON_EVICTED, Mode::Live);
        true
    }

    /// Whether the envelope belongs to a batch of its open conference already applied from
    /// another record. The set lives with the conference, so a replay (which starts no later
    /// than the conference's first offset) rebuilds it and decides the same way.
    fn is_retried_batch(&self, env: &Envelope, pos: Position) -> bool {
        let Some(batch) = env.batch_id.as_deref() else {
            return false;
        };
        let key = ConfKey {
            app_id: env.app_id.clone(),
            conference_id: env.conference_id.clone(),
        };
        self.open
            .get(&key)
            .and_then(|conf| conf.batches.get(&(user_of(env), batch.to_owned())))
            .is_some_and(|&offset| offset != pos.offset)
    }

    /// Applies one envelope read at `pos`.
    pub fn apply(&mut self, env: &Envelope, pos: Position, mode: Mode) {
        let received = env.received_at_ms;
        self.clock_ms = Some(self.clock_ms.map_or(received, |c| c.max(received)));
        if mode == Mode::Live {
            // Late data: a conference whose time ran out closes before this message is applied,
            // so the message starts its next segment.
            if let Some(clock) = self.clock_ms {
                self.expire(clock);
            }
        }
        if self.is_retried_batch(env, pos) {
            tracing::debug!(
                conference_id = %env.conference_id,
                offset = pos.offset,
                "retried batch already applied; skipped"
            );
            return;
        }
        if mode == Mode::Live {
            self.emit_message_rows(env, pos);
        }
        if env.conference_id.starts_with(APP_LEVEL_CONFERENCE_PREFIX) {
            // Bridge and system reports outside any conference: events rows only.
            return;
        }
        let key = ConfKey {
            app_id: env.app_id.clone(),
            conference_id: env.conference_id.clone(),
        };
        if !self.open.contains_key(&key) {
            let Some(segment) = self.segment_to_open(&key, env.kind(), pos, mode) else {
                return;
            };
            self.open
                .insert(key.clone(), Conference::new(segment, pos, received));
        }
        let Some(mut conf) = self.open.remove(&key) else {
            return;
        };
        self.last_touched = Some(key.clone());
        self.deadlines.remove(&(conf.deadline, key.clone()));
        // Taken out for the call, which borrows the rest of `self`.
        let mut tracks = std::mem::take(&mut self.out.track_quality);
        self.apply_to_conference(&mut conf, &key, env, pos, mode, &mut tracks);
        self.out.track_quality = tracks;
        conf.ended_ms = if conf.all_done() {
            Some(conf.ended_ms.unwrap_or(received))
        } else {
            None
        };
        conf.deadline = conf.compute_deadline(&self.config);
        let first = conf.first;
        self.deadlines.insert((conf.deadline, key.clone()));
        self.open.insert(key.clone(), conf);
        match mode {
            Mode::Live => {
                // Closes an ended conference at once when there is no grace period.
                if let Some(clock) = self.clock_ms {
                    self.expire(clock);
                }
            }
            Mode::Rebuild => {
                let closes_here = self.history.get(&key).and_then(|segments| {
                    segments
                        .iter()
                        .find(|s| s.first == first && s.last == pos)
                        .map(|s| s.end_reason.clone())
                });
                if let Some(reason) = closes_here {
                    self.close(&key, &reason, Mode::Rebuild);
                }
            }
        }
    }

    /// The segment number to open for a message of a conference with no open segment, or
    /// `None` when the message must not open one.
    fn segment_to_open(
        &self,
        key: &ConfKey,
        kind: EventKind,
        pos: Position,
        mode: Mode,
    ) -> Option<i32> {
        let segments = self.history.get(key);
        if mode == Mode::Rebuild
            && let Some(s) = segments
                .into_iter()
                .flatten()
                .find(|s| s.first <= pos && pos <= s.last)
        {
            // A remembered segment: reopen it at its first message; a message of a segment
            // whose start lies before the replay cannot rebuild anything and is skipped.
            return (s.first == pos).then_some(s.segment);
        }
        if is_epilogue(kind) {
            return None;
        }
        Some(
            segments
                .into_iter()
                .flatten()
                .map(|s| s.segment.saturating_add(1))
                .max()
                .unwrap_or(0),
        )
    }

    fn close(&mut self, key: &ConfKey, reason: &str, mode: Mode) {
        let Some(conf) = self.open.remove(key) else {
            return;
        };
        self.deadlines.remove(&(conf.deadline, key.clone()));
        // A conference that ended by everyone leaving keeps that reason whatever closed it.
        let reason = if conf.ended_ms.is_some() {
            END_REASON_ALL_LEFT
        } else {
            reason
        };
        if mode == Mode::Live {
            let segments = self.history.entry(key.clone()).or_default();
            if !segments
                .iter()
                .any(|s| s.first == conf.first && s.segment == conf.segment)
            {
                segments.push(ClosedSegment {
                    segment: conf.segment,
                    first: conf.first,
                    last: conf.last,
                    end_reason: reason.to_owned(),
                    last_event_ms: conf.last_ms,
                });
            }
            let summary = summarize(key, &conf, reason);
            self.out.summaries.push(summary);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Per-message rows
    // -----------------------------------------------------------------------------------------

    fn emit_message_rows(&mut self, env: &Envelope, pos: Position) {
        let date = utc_date(env.received_at_ms);
        // Counts, not an event of any call: they go to their own table only.
        if let Payload::IntegrationProgress(p) = &env.payload {
            self.out
                .integration
                .extend(p.items.iter().map(|item| IntegrationRow {
                    app_id: env.app_id.clone(),
                    date: date.clone(),
                    window_start: p.window_start_ms,
                    window_end: p.window_end_ms,
                    item: item.item.id(),
                    accepted: i64::try_from(item.accepted).unwrap_or(i64::MAX),
                    refused: i64::try_from(item.refused).unwrap_or(i64::MAX),
                    last_seen: item.last_seen_ms,
                    last_refused: item.last_refused_ms,
                    last_error: item.error.clone(),
                    last_field: item.field.clone(),
                    last_status: item.status.map(i32::from),
                    bus_partition: Some(self.partition),
                    bus_offset: Some(pos.offset),
                }));
            return;
        }
        let user_id = user_of(env);
        let payload_json = match &env.payload {
            // Its reports are the `stats_samples` rows of this message.
            Payload::StatsSample(sample) => sample.header_json(),
            payload => payload.data_json(),
        };
        let payload_json = payload_json.unwrap_or_else(|e| {
            // Serialization of these types cannot fail (see Envelope::to_vec); should it ever,
            // the row keeps the reason instead of dropping the event.
            serde_json::json!({ "serialization_error": e.to_string() }).to_string()
        });
        self.out.events.push_as(&EventRow {
            app_id: env.app_id.as_str(),
            date: date.as_str(),
            received_at: env.received_at_ms,
            client_ts: env.client_ts_ms,
            kind: env.kind().as_str(),
            event_type: env.payload.event_type(),
            origin: env.origin.as_str(),
            schema_version: i32::from(env.v),
            conference_id: env.conference_id.as_str(),
            uc_id: env.uc_id.as_deref(),
            user_id: (!user_id.is_empty()).then_some(user_id.as_str()),
            connection_id: env.payload.connection_id(),
            remote_user_id: env.payload.remote_id(),
            payload_json,
            bus_partition: Some(self.partition),
            bus_offset: Some(pos.offset),
        });
        if env.conference_id.starts_with(APP_LEVEL_CONFERENCE_PREFIX) {
            return;
        }
        match &env.payload {
            Payload::StatsSample(sample) => {
                let mut json = Vec::new();
                for report in &sample.stats {
                    let row = stats_sample_row(env, &date, &user_id, sample, report, &mut json);
                    self.out.stats_samples.push_as(&row);
                }
            }
            Payload::ReportError(e) => self.out.errors.push(report_error_row(env, &date, e)),
            Payload::FabricSetupFailed(e) => {
                let reason = FailureReason::parse(e.reason.as_str());
                self.out.errors.push(ErrorRow {
                    connection_id: e.connection_id.clone(),
                    remote_user_id: e.remote_id.clone(),
                    kind: EventKind::FabricSetupFailed.as_str(),
                    failure_reason: Some(e.reason.as_str()),
                    failure_category: reason.map(|r| r.category().as_str()),
                    error_name: e.name.clone(),
                    error_message: e.message.clone(),
                    error_stack: e.stack.clone(),
                    ..error_base(env, &date)
                });
            }
            Payload::FabricDropped(e) => self.out.errors.push(ErrorRow {
                connection_id: Some(e.connection_id.clone()),
                remote_user_id: Some(e.remote_id.clone()),
                kind: EventKind::FabricDropped.as_str(),
                failure_category: Some(
                    crate::quality::FailureCategory::TransportAfterSetup.as_str(),
                ),
                ..error_base(env, &date)
            }),
            Payload::Feedback(f) => {
                if let Some(row) = feedback_row(env, &date, &user_id, f) {
                    self.out.feedback.push(row);
                }
            }
            _ => {}
        }
    }

    // -----------------------------------------------------------------------------------------
    // Conference state
    // -----------------------------------------------------------------------------------------

    /// Applies an envelope to its open conference; appends the track rows it produced (in
    /// live mode) to `tracks`.
    fn apply_to_conference(
        &self,
        conf: &mut Conference,
        key: &ConfKey,
        env: &Envelope,
        pos: Position,
        mode: Mode,
        tracks: &mut ColumnRows<TrackQualityRow, TrackQualityColumns>,
    ) {
        let received = env.received_at_ms;
        let time = event_time(env);
        conf.last = pos;
        conf.last_ms = conf.last_ms.max(received);
        let user_id = user_of(env);
        if let Some(batch) = &env.batch_id {
            conf.batches
                .entry((user_id.clone(), batch.clone()))
                .or_insert(pos.offset);
        }
        {
            let user = conf.users.entry(user_id.clone()).or_insert_with(|| User {
                first_seen: received,
                last_seen: received,
                ..User::default()
            });
            user.last_seen = user.last_seen.max(received);
            if env.uc_id.is_some() {
                user.uc_id.clone_from(&env.uc_id);
            }
            match &env.payload {
                Payload::UserJoined(e) => {
                    let info = &e.endpoint_info;
                    user.endpoint_type.clone_from(&info.r#type);
                    user.browser.clone_from(&info.name);
                    user.browser_version.clone_from(&info.version);
                    user.os.clone_from(&info.os);
                    user.os_version.clone_from(&info.os_version);
                    user.app_version.clone_from(&info.app_version);
                    user.site_id.clone_from(&e.site_id);
                    user.joined_at.get_or_insert(received);
                    // A rejoin after leaving puts the user back in the call.
                    user.left = false;
                    user.left_at = None;
                }
                Payload::UserLeft(_) => {
                    user.left = true;
                    user.left_at = Some(received);
                }
                Payload::Feedback(e) => {
                    if let Some(overall) = e.feedback.overall_rating {
                        user.feedback_overall = Some(clamp_i32(overall));
                        conf.feedback_sum = conf.feedback_sum.saturating_add(overall);
                        conf.feedback_count = conf.feedback_count.saturating_add(1);
                    }
                }
                _ => {}
            }
        }
        let ctx = FabricCtx {
            user_id: &user_id,
            uc_id: env.uc_id.as_deref(),
            time,
            received,
            tracker: self.config.tracker,
        };
        let at = time as f64;
        match &env.payload {
            Payload::FabricCreated(e) => {
                conf.start_ms.get_or_insert(received);
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                f.created_at.get_or_insert(time);
                f.timeline.created_ms.get_or_insert(at);
                f.usage = Some(e.fabric_usage.as_str());
                f.remote_endpoint_type = e.remote_endpoint_type.map(|t| t.as_str());
                f.direction = e.fabric_transmission_direction.map(|d| d.as_str());
                // A re-created connection is live again.
                f.terminated = false;
            }
            Payload::FabricSetup(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                f.timeline.setup_ms.get_or_insert(at);
                let r = &mut f.timeline.reported;
                r.delay_ms = r.delay_ms.or(e.delay).or(e.total_setup_delay);
                r.ice_gathering_ms = r.ice_gathering_ms.or(e.ice_gathering_delay);
                r.ice_connectivity_ms = r.ice_connectivity_ms.or(e.ice_connectivity_delay);
                r.dtls_ms = r.dtls_ms.or(e.dtls_setup_delay);
                if let Some(d) = e.fabric_transmission_direction {
                    f.direction = Some(d.as_str());
                }
                if let Some(t) = e.remote_endpoint_type {
                    f.remote_endpoint_type = Some(t.as_str());
                }
                let selected = e.selected_candidate_pair.clone().or_else(|| {
                    let id = e.selected_candidate_pair_id.as_deref()?;
                    e.ice_candidate_pairs
                        .iter()
                        .find(|p| p.candidate_id.as_deref() == Some(id))
                        .cloned()
                });
                if let Some(pair) = selected {
                    f.set_relay_from_events(Relay::from_pair(&pair));
                }
            }
            Payload::FabricSetupFailed(e) => {
                // The Android SDK sends no connection id: such a failure has no fabric to
                // attach to and is kept in `errors` only.
                if let Some(connection_id) = &e.connection_id {
                    let f = fabric_mut(conf, &ctx, connection_id, e.remote_id.as_deref());
                    f.timeline.setup_failures.push(SetupFailure {
                        at_ms: at,
                        reason: FailureReason::parse(e.reason.as_str()),
                    });
                    f.first_failure_at.get_or_insert(time);
                    f.failure_reason.get_or_insert(e.reason.as_str());
                }
            }
            Payload::FabricTerminated(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                f.terminated = true;
                f.terminated_at.get_or_insert(time);
                f.timeline.terminated_ms.get_or_insert(at);
                if f.terminated_reason.is_none() {
                    f.terminated_reason.clone_from(&e.reason);
                }
            }
            Payload::FabricStateChange(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                if e.changed_state == StateChangeType::IceConnectionState
                    && let Some(state) = IceState::parse(&e.new_state)
                {
                    f.timeline.ice.push(IceTransition { at_ms: at, state });
                }
            }
            Payload::FabricTransportChange(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                f.transport_changes = f.transport_changes.saturating_add(1);
                let mut relay = e
                    .curr_ice_candidate_pair
                    .as_ref()
                    .map(Relay::from_pair)
                    .unwrap_or_default();
                if let Some(rt) = e.relay_type {
                    let name = rt.as_str();
                    relay.relayed = Some(!name.is_empty());
                    if let Some(proto) = name.strip_prefix("turn/") {
                        relay.relay_protocol = Some(proto.to_owned());
                    }
                }
                f.set_relay_from_events(relay);
            }
            Payload::FabricDropped(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                f.dropped_event = true;
                f.dropped_at.get_or_insert(time);
            }
            Payload::IceStatus(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                if e.event_type == IceEventType::IceRestarted {
                    let n = f.timeline.reported_ice_restarts.unwrap_or(0);
                    f.timeline.reported_ice_restarts = Some(n.saturating_add(1));
                }
                if let Some(state) = e
                    .curr_ice_connection_state
                    .and_then(|s| IceState::parse(s.as_str()))
                {
                    f.timeline.ice.push(IceTransition { at_ms: at, state });
                }
            }
            Payload::SsrcMap(e) => {
                let f = fabric_mut(conf, &ctx, &e.connection_id, Some(&e.remote_id));
                for info in &e.ssrc_data {
                    f.ssrcs.insert(
                        info.ssrc.trim().to_owned(),
                        SsrcOwner {
                            user_id: info.user_id.clone(),
                            usage_label: info.usage_label.clone(),
                            track_identifier: info.track_identifier.clone(),
                        },
                    );
                }
            }
            Payload::ReportError(e) => {
                if let Some(connection_id) = &e.connection_id {
                    let f = fabric_mut(conf, &ctx, connection_id, e.remote_id.as_deref());
                    if let Some(function) = WebRtcFunction::parse(e.web_rtc_function.as_str()) {
                        f.timeline.errors.push(ReportedError {
                            at_ms: at,
                            function,
                        });
                        if function.category().is_some() {
                            f.failed_function.get_or_insert(function.as_str());
                        }
                    }
                }
            }
            Payload::StatsSample(sample) => {
                fabric_mut(conf, &ctx, &sample.connection_id, Some(&sample.remote_id));
                // Track rows are only produced live (a rebuild replays durable rows).
                let tracks = (mode == Mode::Live).then_some(tracks);
                self.apply_stats(conf, key, env, &user_id, sample, tracks);
            }
            // Kept in `events` only (user events were applied above); they do not change the
            // summaries.
            Payload::UserJoined(_)
            | Payload::UserLeft(_)
            | Payload::Feedback(_)
            | Payload::UserAlive(_)
            | Payload::UserDetails(_)
            | Payload::FabricHold(_)
            | Payload::FabricResume(_)
            | Payload::MediaAction(_)
            | Payload::MediaPipeline(_)
            | Payload::DeviceList(_)
            | Payload::DominantSpeaker(_)
            | Payload::AppLog(_)
            | Payload::Sdp(_)
            | Payload::SystemStatus(_)
            | Payload::BridgeStatus(_)
            | Payload::BridgeAlive(_)
            | Payload::IntegrationProgress(_) => {}
        }
    }

    /// Feeds a stats sample's RTP reports to the fabric's counter tracker; every interval
    /// becomes a track row (in `tracks`, given in live mode) and adds to its associated user's aggregate.
    fn apply_stats(
        &self,
        conf: &mut Conference,
        key: &ConfKey,
        env: &Envelope,
        user_id: &str,
        sample: &StatsSample,
        mut tracks: Option<&mut ColumnRows<TrackQualityRow, TrackQualityColumns>>,
    ) {
        let segment = conf.segment;
        let Some(fabric) = conf
            .fabrics
            .get_mut(&(user_id, sample.connection_id.as_str()) as &dyn PairKey)
        else {
            return;
        };
        let reports = &sample.stats;
        fabric.packets.add(reports);
        let by_id: HashMap<&str, &StatsReport> =
            reports.iter().map(|r| (r.id.as_str(), r)).collect();

        // The selected candidate pair: the transport's choice, else the nominated succeeded
        // pair, else one flagged `selected` (Firefox).
        let selected = reports
            .iter()
            .filter(|r| r.r#type == "transport")
            .find_map(|t| t.text("selectedCandidatePairId"))
            .and_then(|id| by_id.get(id).copied())
            .or_else(|| {
                reports.iter().find(|r| {
                    r.r#type == "candidate-pair"
                        && flag(r, "nominated") == Some(true)
                        && r.text("state") == Some("succeeded")
                })
            })
            .or_else(|| {
                reports
                    .iter()
                    .find(|r| r.r#type == "candidate-pair" && flag(r, "selected") == Some(true))
            });
        if let Some(pair) = selected {
            if let Some(rtt) = pair
                .number("currentRoundTripTime")
                .filter(|v| v.is_finite() && *v >= 0.0)
            {
                fabric.rtt_ms = Some(rtt * 1000.0);
            }
            if !fabric.relay_from_events {
                let local = pair
                    .text("localCandidateId")
                    .and_then(|id| by_id.get(id).copied());
                let remote = pair
                    .text("remoteCandidateId")
                    .and_then(|id| by_id.get(id).copied());
                if let Some(local) = local {
                    let local_type = local.text("candidateType").map(str::to_owned);
                    let remote_type = remote
                        .and_then(|r| r.text("candidateType"))
                        .map(str::to_owned);
                    let relayed = local_type
                        .as_deref()
                        .map(|t| t == "relay")
                        .map(|l| l || remote_type.as_deref() == Some("relay"));
                    fabric.relay = Relay {
                        relayed,
                        relay_protocol: local.text("relayProtocol").map(str::to_owned),
                        local_candidate_type: local_type,
                        remote_candidate_type: remote_type,
                        transport_protocol: local.text("protocol").map(str::to_owned),
                    };
                }
            }
        }

        // Track rows borrow their strings; the date is the same for all of them.
        let date = utc_date(env.received_at_ms);
        for report in reports {
            let Some(kind) = TrackKind::from_stats_type(&report.r#type) else {
                continue;
            };
            let Some(media) = report
                .text("kind")
                .or_else(|| report.text("mediaType"))
                .and_then(Media::from_kind)
            else {
                continue;
            };
            let update = fabric.tracker.push(snapshot(report, kind, media));
            let mut iv = match update {
                Update::Interval(iv) => iv,
                Update::Reset(_) => {
                    fabric.after_reset.insert(report.id.clone());
                    continue;
                }
                Update::Baseline | Update::Ignored(_) => continue,
            };
            let after_gap = iv.gap | fabric.after_reset.remove(&report.id);
            let f: &Fabric = fabric;
            // The SSRC map is keyed by the SSRC as text.
            let mut digits = [0u8; 10];
            let owner = iv.ssrc.and_then(|s| f.ssrcs.get(decimal(s, &mut digits)));
            let outgoing = matches!(kind, TrackKind::OutboundRtp | TrackKind::RemoteInboundRtp);
            let associated = owner.and_then(|o| o.user_id.as_deref()).or(if outgoing {
                Some(user_id)
            } else {
                f.remote_user_id.as_deref()
            });
            if !iv.gap && iv.rtt_ms.is_none() {
                iv.rtt_ms = f.rtt_ms;
            }
            // Only receive-side reports say how media arrived; an outbound report has no loss
            // and would score every sender as excellent.
            let score = if kind.is_receive_side() {
                score_interval(&iv, iv.rtt_ms)
            } else {
                None
            };
            if kind.is_receive_side()
                && let Some(associated) = associated
            {
                if !conf.quality.contains_key(associated) {
                    conf.quality
                        .insert(associated.to_owned(), Quality::default());
                }
                if let Some(q) = conf.quality.get_mut(associated) {
                    match media {
                        Media::Audio => q.audio.add(&iv, score),
                        Media::Video => q.video.add(&iv, score),
                    }
                }
            }
            if let Some(tracks) = tracks.as_deref_mut() {
                let codec = report
                    .text("codecId")
                    .and_then(|id| by_id.get(id))
                    .and_then(|c| c.text("mimeType"));
                let track_id = report
                    .text("trackIdentifier")
                    .or(owner.and_then(|o| o.track_identifier.as_deref()))
                    .or(Some(report.id.as_str()));
                tracks.push_as(&track_row(TrackRowInput {
                    key,
                    date: &date,
                    segment,
                    connection_id: &sample.connection_id,
                    user_id,
                    uc_id: f.uc_id.as_deref().or(env.uc_id.as_deref()),
                    remote_user_id: f.remote_user_id.as_deref(),
                    associated,
                    usage_label: owner.and_then(|o| o.usage_label.as_deref()),
                    track_id,
                    codec,
                    iv: &iv,
                    after_gap,
                    score,
                }));
            }
        }
    }
}

/// What [`fabric_mut`] needs to know about the envelope being applied.
struct FabricCtx<'a> {
    user_id: &'a str,
    uc_id: Option<&'a str>,
    time: i64,
    received: i64,
    tracker: TrackerConfig,
}

/// The fabric (reporting user, connection id), created on first mention: a fabric whose
/// creation event was lost or belongs to an earlier segment still gets its events.
fn fabric_mut<'c>(
    conf: &'c mut Conference,
    ctx: &FabricCtx<'_>,
    connection_id: &str,
    remote: Option<&str>,
) -> &'c mut Fabric {
    let key: &dyn PairKey = &(ctx.user_id, connection_id);
    if !conf.fabrics.contains_key(key) {
        conf.fabrics.insert(
            (ctx.user_id.to_owned(), connection_id.to_owned()),
            Fabric::new(ctx.tracker, ctx.time, ctx.received),
        );
    }
    let fabric = conf
        .fabrics
        .get_mut(key)
        .expect("the fabric was inserted just above");
    fabric.last_event_time = fabric.last_event_time.max(ctx.time);
    fabric.last_received_at = fabric.last_received_at.max(ctx.received);
    if let Some(uc) = ctx.uc_id
        && fabric.uc_id.as_deref() != Some(uc)
    {
        fabric.uc_id = Some(uc.to_owned());
    }
    if fabric.remote_user_id.is_none() {
        fabric.remote_user_id = remote.map(str::to_owned);
    }
    fabric
}

/// A `(user_id, connection_id)` key, owned or borrowed: the fabrics map is searched with a
/// pair of `&str` instead of a pair of new `String`s for every message.
trait PairKey {
    fn pair(&self) -> (&str, &str);
}

impl PairKey for (String, String) {
    fn pair(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl PairKey for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn PairKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn PairKey + 'a) {
        self
    }
}

// Ordered as the owned tuple is, as `Borrow` requires.
impl PartialEq for dyn PairKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn PairKey + '_ {}

impl PartialOrd for dyn PairKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn PairKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pair().cmp(&other.pair())
    }
}

/// Kinds that follow a call's end (hang-up, presence, rating): they do not open a segment on
/// their own, or every conference would grow a one-event segment after it closed.
fn is_epilogue(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::UserLeft
            | EventKind::UserAlive
            | EventKind::FabricTerminated
            | EventKind::Feedback
    )
}

/// The user an envelope is from: the authenticated user, else the payload's `localID`, else
/// the ucID; empty when none is known.
fn user_of(env: &Envelope) -> String {
    env.user_id
        .as_deref()
        .or(env.payload.common().local_id.as_deref())
        .or(env.uc_id.as_deref())
        .unwrap_or_default()
        .to_owned()
}

/// When the event happened: the client's clock when it sent one (setup delays are differences
/// of client times, free of batching delays), else the server receive time.
fn event_time(env: &Envelope) -> i64 {
    env.client_ts_ms
        .or_else(|| {
            env.payload
                .common()
                .timestamp
                .filter(|t| t.is_finite())
                .map(|t| t as i64)
        })
        .unwrap_or(env.received_at_ms)
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).unwrap_or_default()
}

/// A boolean member, accepting the `"true"`/`"false"` strings of the iOS SDK.
fn flag(report: &StatsReport, key: &str) -> Option<bool> {
    match report.other.get(key)? {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn to_u64(v: Option<f64>) -> Option<u64> {
    // `as` saturates; negative and non-finite counters are not counters.
    v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u64)
}

fn to_u32(v: Option<f64>) -> Option<u32> {
    to_u64(v).and_then(|x| u32::try_from(x).ok())
}

/// The counters of a report, read in one pass over its members (as [`StatsReport::number`]
/// and [`StatsReport::ssrc`] read them one by one).
fn snapshot(r: &StatsReport, kind: TrackKind, media: Media) -> CounterSnapshot {
    let mut s = CounterSnapshot::new(r.id.clone(), kind, media, r.timestamp);
    for (key, v) in &r.other {
        let number = || match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match key {
            "ssrc" => {
                s.ssrc = match v {
                    serde_json::Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
                    serde_json::Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
            }
            "packetsReceived" => s.packets_received = to_u64(number()),
            "packetsSent" => s.packets_sent = to_u64(number()),
            "packetsLost" => {
                s.packets_lost = number().filter(|x| x.is_finite()).map(|x| x as i64);
            }
            "bytesReceived" => s.bytes_received = to_u64(number()),
            "bytesSent" => s.bytes_sent = to_u64(number()),
            "fractionLost" => s.fraction_lost = number(),
            "jitter" => s.jitter_s = number(),
            "roundTripTime" => s.round_trip_time_s = number(),
            "totalRoundTripTime" => s.total_round_trip_time_s = number(),
            "roundTripTimeMeasurements" => s.round_trip_time_measurements = to_u64(number()),
            "jitterBufferDelay" => s.jitter_buffer_delay_s = number(),
            "jitterBufferEmittedCount" => s.jitter_buffer_emitted_count = to_u64(number()),
            "framesDecoded" => s.frames_decoded = to_u64(number()),
            "framesEncoded" => s.frames_encoded = to_u64(number()),
            "framesDropped" => s.frames_dropped = to_u64(number()),
            "framesPerSecond" => s.frames_per_second = number(),
            "frameWidth" => s.frame_width = to_u32(number()),
            "frameHeight" => s.frame_height = to_u32(number()),
            "freezeCount" => s.freeze_count = to_u64(number()),
            "totalFreezesDuration" => s.total_freezes_duration_s = number(),
            "concealedSamples" => s.concealed_samples = to_u64(number()),
            "silentConcealedSamples" => s.silent_concealed_samples = to_u64(number()),
            "totalSamplesReceived" => s.total_samples_received = to_u64(number()),
            _ => {}
        }
    }
    s
}

struct TrackRowInput<'a> {
    key: &'a ConfKey,
    date: &'a str,
    segment: i32,
    connection_id: &'a str,
    user_id: &'a str,
    uc_id: Option<&'a str>,
    remote_user_id: Option<&'a str>,
    associated: Option<&'a str>,
    usage_label: Option<&'a str>,
    track_id: Option<&'a str>,
    codec: Option<&'a str>,
    iv: &'a Interval,
    after_gap: bool,
    score: Option<Score>,
}

fn track_row<'a>(t: TrackRowInput<'a>) -> TrackQualityRow<&'a str> {
    let iv = t.iv;
    let count = |v: Option<u64>| v.and_then(|x| i64::try_from(x).ok());
    let dim = |v: Option<u32>| v.and_then(|x| i32::try_from(x).ok());
    TrackQualityRow {
        app_id: &t.key.app_id,
        date: t.date,
        conference_id: &t.key.conference_id,
        segment: t.segment,
        connection_id: t.connection_id,
        user_id: t.user_id,
        uc_id: t.uc_id,
        remote_user_id: t.remote_user_id,
        associated_user_id: t.associated,
        ssrc: iv.ssrc.map_or(0, i64::from),
        track_id: t.track_id,
        media_kind: match iv.media {
            Media::Audio => "audio",
            Media::Video => "video",
        },
        direction: match iv.kind {
            TrackKind::InboundRtp | TrackKind::RemoteOutboundRtp => "inbound",
            TrackKind::OutboundRtp | TrackKind::RemoteInboundRtp => "outbound",
        },
        usage_label: t.usage_label,
        codec: t.codec,
        interval_start: iv.start_ms.round() as i64,
        interval_end: iv.end_ms.round() as i64,
        after_gap: t.after_gap,
        packets_sent: count(iv.packets_sent),
        packets_received: count(iv.packets_received),
        packets_lost: count(iv.packets_lost),
        loss_pct: iv.loss_pct,
        jitter_ms: iv.jitter_ms,
        rtt_ms: iv.rtt_ms,
        bitrate_bps: iv.bitrate_bps,
        frame_rate: iv.fps,
        width: dim(iv.frame_width),
        height: dim(iv.frame_height),
        freeze_ms: iv.freeze_ms,
        concealed_ms: iv.concealment_pct.map(|p| p / 100.0 * iv.duration_ms),
        mos: match t.score {
            Some(Score::AudioMos(v)) => Some(v),
            _ => None,
        },
        video_score: match t.score {
            Some(Score::Video(v)) => Some(v),
            _ => None,
        },
        band: t.score.map(|s| s.band().as_str()),
    }
}

/// The number of a member, accepting the numeric strings the iOS SDK sent (as
/// [`StatsReport::number`]); non-finite values are `None`.
fn member_num(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

fn member_int(v: &serde_json::Value) -> Option<i64> {
    member_num(v)
        .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
        .map(|x| x as i64)
}

fn member_int32(v: &serde_json::Value) -> Option<i32> {
    member_num(v)
        .filter(|x| x.fract() == 0.0)
        .and_then(|x| i32::try_from(x as i64).ok())
}

fn member_text(v: &serde_json::Value) -> Option<&str> {
    v.as_str()
}

fn member_flag(v: &serde_json::Value) -> Option<bool> {
    match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn member_ssrc(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        serde_json::Value::String(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    }
    .map(i64::from)
}

/// Writes the members of a report that have no column (or whose value did not fit it) as a
/// JSON object in the report's member order, one at a time: `other_json`.
struct RestWriter<'b> {
    out: &'b mut Vec<u8>,
    members: usize,
}

impl RestWriter<'_> {
    fn member(&mut self, key: &str, value: &serde_json::Value) -> serde_json::Result<()> {
        self.out.push(if self.members == 0 { b'{' } else { b',' });
        self.members += 1;
        serde_json::to_writer(&mut *self.out, key)?;
        self.out.push(b':');
        serde_json::to_writer(&mut *self.out, value)
    }
}

/// One `stats_samples` row. The report's members are read in one pass: each member with a
/// column goes to it when its value fits the column type, and everything else (unknown
/// members, values that do not parse) stays in `other_json`, so nothing is lost.
///
/// `other_json` is written into `json`, which the caller reuses from row to row: a `String`
/// (and a list of members) for every row was a fifth of a sample's allocations.
fn stats_sample_row<'a>(
    env: &'a Envelope,
    date: &'a str,
    user_id: &'a str,
    sample: &'a StatsSample,
    report: &'a StatsReport,
    json: &'a mut Vec<u8>,
) -> StatsSampleRow<&'a str> {
    // `kind`, else the older `mediaType`: only the member that gave the value is used, and
    // it is found in the pass below (one lookup here, not two, for reports that have neither).
    let kind_key = if report.text("kind").is_some() {
        "kind"
    } else {
        "mediaType"
    };
    let mut kind = None;
    let mut row = StatsSampleRow {
        app_id: env.app_id.as_str(),
        date,
        received_at: env.received_at_ms,
        sample_ts: if report.timestamp.is_finite() {
            report.timestamp.round() as i64
        } else {
            env.received_at_ms
        },
        conference_id: env.conference_id.as_str(),
        uc_id: env.uc_id.as_deref(),
        user_id,
        remote_user_id: Some(sample.remote_id.as_str()),
        connection_id: sample.connection_id.as_str(),
        report_id: report.id.as_str(),
        report_type: report.r#type.as_str(),
        ..StatsSampleRow::default()
    };
    json.clear();
    let mut rest = RestWriter {
        out: json,
        members: 0,
    };
    // Writing JSON to memory fails only for a value serde_json cannot write, which a decoded
    // value never is; should it happen, the row says so instead of losing the members.
    let mut failed = None;
    for (key, v) in &report.other {
        let used = match key {
            k if k == kind_key => set(&mut kind, member_text(v)),
            "ssrc" => set(&mut row.ssrc, member_ssrc(v)),
            "mid" => set(&mut row.mid, member_text(v)),
            "trackIdentifier" => set(&mut row.track_identifier, member_text(v)),
            "codecId" => set(&mut row.codec_id, member_text(v)),
            "mimeType" => set(&mut row.mime_type, member_text(v)),
            "packetsSent" => set(&mut row.packets_sent, member_int(v)),
            "packetsReceived" => set(&mut row.packets_received, member_int(v)),
            "packetsLost" => set(&mut row.packets_lost, member_int(v)),
            "bytesSent" => set(&mut row.bytes_sent, member_int(v)),
            "bytesReceived" => set(&mut row.bytes_received, member_int(v)),
            "jitter" => set(&mut row.jitter_s, member_num(v)),
            "fractionLost" => set(&mut row.fraction_lost, member_num(v)),
            "roundTripTime" => set(&mut row.round_trip_time_s, member_num(v)),
            "totalRoundTripTime" => set(&mut row.total_round_trip_time_s, member_num(v)),
            "roundTripTimeMeasurements" => {
                set(&mut row.round_trip_time_measurements, member_int(v))
            }
            "framesPerSecond" => set(&mut row.frames_per_second, member_num(v)),
            "frameWidth" => set(&mut row.frame_width, member_int32(v)),
            "frameHeight" => set(&mut row.frame_height, member_int32(v)),
            "framesEncoded" => set(&mut row.frames_encoded, member_int(v)),
            "framesDecoded" => set(&mut row.frames_decoded, member_int(v)),
            "framesDropped" => set(&mut row.frames_dropped, member_int(v)),
            "freezeCount" => set(&mut row.freeze_count, member_int(v)),
            "totalFreezesDuration" => set(&mut row.total_freezes_duration_s, member_num(v)),
            "concealedSamples" => set(&mut row.concealed_samples, member_int(v)),
            "totalSamplesReceived" => set(&mut row.total_samples_received, member_int(v)),
            "audioLevel" => set(&mut row.audio_level, member_num(v)),
            "jitterBufferDelay" => set(&mut row.jitter_buffer_delay_s, member_num(v)),
            "jitterBufferEmittedCount" => set(&mut row.jitter_buffer_emitted_count, member_int(v)),
            "qualityLimitationReason" => set(&mut row.quality_limitation_reason, member_text(v)),
            "targetBitrate" => set(&mut row.target_bitrate, member_num(v)),
            "state" => set(&mut row.state, member_text(v)),
            "nominated" => set(&mut row.nominated, member_flag(v)),
            "currentRoundTripTime" => set(&mut row.current_round_trip_time_s, member_num(v)),
            "availableOutgoingBitrate" => set(&mut row.available_outgoing_bitrate, member_num(v)),
            "localCandidateId" => set(&mut row.local_candidate_id, member_text(v)),
            "remoteCandidateId" => set(&mut row.remote_candidate_id, member_text(v)),
            "selectedCandidatePairId" => set(&mut row.selected_candidate_pair_id, member_text(v)),
            "candidateType" => set(&mut row.candidate_type, member_text(v)),
            "protocol" => set(&mut row.protocol, member_text(v)),
            "relayProtocol" => set(&mut row.relay_protocol, member_text(v)),
            _ => false,
        };
        if !used
            && failed.is_none()
            && let Err(e) = rest.member(key, v)
        {
            failed = Some(e);
        }
    }
    row.kind = kind;
    if let Some(e) = failed {
        tracing::error!(error = %e, report_id = %report.id, "stats members not written as JSON");
        json.clear();
        json.extend_from_slice(
            serde_json::json!({ "serialization_error": e.to_string() })
                .to_string()
                .as_bytes(),
        );
    } else if rest.members > 0 {
        json.push(b'}');
    }
    let json: &'a Vec<u8> = json;
    row.other_json = (!json.is_empty()).then(|| std::str::from_utf8(json).unwrap_or("{}"));
    row
}

/// Stores a member's value in its column; `true` when it fit.
fn set<T>(column: &mut Option<T>, value: Option<T>) -> bool {
    *column = value;
    column.is_some()
}

fn error_base(env: &Envelope, date: &str) -> ErrorRow {
    let user = user_of(env);
    ErrorRow {
        app_id: env.app_id.clone(),
        date: date.to_owned(),
        received_at: env.received_at_ms,
        client_ts: env.client_ts_ms,
        conference_id: env.conference_id.clone(),
        uc_id: env.uc_id.clone(),
        user_id: (!user.is_empty()).then_some(user),
        kind: env.kind().as_str(),
        ..ErrorRow::default()
    }
}

fn report_error_row(env: &Envelope, date: &str, e: &ReportError) -> ErrorRow {
    let function = WebRtcFunction::parse(e.web_rtc_function.as_str());
    let dom = e.dom_error.as_ref();
    ErrorRow {
        connection_id: e.connection_id.clone(),
        remote_user_id: e.remote_id.clone(),
        webrtc_function: Some(e.web_rtc_function.as_str()),
        // The quality module's categories (docs/quality.md): addIceCandidate is negotiation.
        failure_category: function
            .and_then(WebRtcFunction::category)
            .map(|c| c.as_str()),
        error_name: e.name.clone().or_else(|| dom.and_then(|d| d.name.clone())),
        error_message: e
            .message
            .clone()
            .or_else(|| dom.and_then(|d| d.message.clone())),
        error_stack: e
            .stack
            .clone()
            .or_else(|| dom.and_then(|d| d.stack.clone())),
        constraint_name: dom.and_then(|d| d.constraint_name.clone()),
        has_local_sdp: e.local_sdp.is_some(),
        has_remote_sdp: e.remote_sdp.is_some(),
        ..error_base(env, date)
    }
}

fn feedback_row(
    env: &Envelope,
    date: &str,
    user_id: &str,
    f: &UserFeedback,
) -> Option<FeedbackRow> {
    let r = &f.feedback;
    // `overall` is required (validation refuses a feedback without it); without it there is
    // no row to write, and the event stays in `events`.
    let overall = r.overall_rating?;
    Some(FeedbackRow {
        app_id: env.app_id.clone(),
        date: date.to_owned(),
        received_at: env.received_at_ms,
        client_ts: env.client_ts_ms,
        conference_id: env.conference_id.clone(),
        uc_id: env.uc_id.clone(),
        user_id: user_id.to_owned(),
        remote_user_id: f.remote_id.clone().or(r.remote_id.clone()),
        overall: clamp_i32(overall),
        audio: r.audio_quality_rating.map(clamp_i32),
        video: r.video_quality_rating.map(clamp_i32),
        screen: r.screen_quality_rating.map(clamp_i32),
        comment: r.comments.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------------

fn ms(v: f64) -> Option<i64> {
    v.is_finite().then(|| v.round() as i64)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Median of the values (mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

fn distinct(values: impl Iterator<Item = Option<String>>) -> Option<Vec<String>> {
    let set: BTreeSet<String> = values.flatten().filter(|s| !s.is_empty()).collect();
    (!set.is_empty()).then(|| set.into_iter().collect())
}

fn fabric_outcome_str(outcome: Outcome) -> &'static str {
    use callscope_schemas::enums::FabricOutcome;
    match outcome {
        Outcome::Success | Outcome::Dropped => FabricOutcome::Setup.as_str(),
        Outcome::Failed => FabricOutcome::Failed.as_str(),
        Outcome::Aborted | Outcome::Missed => FabricOutcome::Aborted.as_str(),
        Outcome::Pending => FabricOutcome::Pending.as_str(),
    }
}

fn summarize(key: &ConfKey, conf: &Conference, end_reason: &str) -> Summary {
    use callscope_schemas::enums::SetupStatus;

    let start = conf.start_ms.unwrap_or(conf.opened_ms).min(conf.last_ms);
    let end = conf.ended_ms.unwrap_or(conf.last_ms).max(start);
    let date = utc_date(start);
    let mut fabrics = Vec::with_capacity(conf.fabrics.len());
    let mut delays = Vec::new();
    let mut setup_count = 0i32;
    let mut failed_count = 0i32;
    let mut relay_known = 0u32;
    let mut relayed = 0u32;
    let mut failures: BTreeMap<String, i64> = BTreeMap::new();
    let mut terminations: BTreeMap<String, i64> = BTreeMap::new();
    for ((user_id, connection_id), f) in &conf.fabrics {
        let o = evaluate(&f.timeline);
        let is_setup = matches!(o.outcome, Outcome::Success | Outcome::Dropped);
        if is_setup {
            setup_count += 1;
            if let Some(d) = o.delay_ms {
                delays.push(d);
            }
            if let Some(r) = f.relay.relayed {
                relay_known += 1;
                relayed += u32::from(r);
            }
        }
        let failed_at = if o.outcome == Outcome::Failed {
            failed_count += 1;
            let reason = f
                .failure_reason
                .or(o.failure_category.map(|c| c.as_str()))
                .unwrap_or("unknown");
            *failures.entry(reason.to_owned()).or_default() += 1;
            match (f.created_at, o.delay_ms) {
                (Some(c), Some(d)) => ms(c as f64 + d),
                _ => f.first_failure_at,
            }
        } else {
            None
        };
        let termination = if f.terminated {
            f.terminated_reason
                .clone()
                .unwrap_or_else(|| "unspecified".to_owned())
        } else if end_reason == END_REASON_ALL_LEFT {
            "user_left".to_owned()
        } else {
            end_reason.to_owned()
        };
        *terminations.entry(termination).or_default() += 1;
        let end_of_fabric = f.terminated_at.unwrap_or(f.last_event_time);
        let packets = f.packets.totals();
        fabrics.push(FabricRow {
            app_id: key.app_id.clone(),
            date: date.clone(),
            conference_id: key.conference_id.clone(),
            segment: conf.segment,
            connection_id: connection_id.clone(),
            user_id: user_id.clone(),
            uc_id: f.uc_id.clone(),
            remote_user_id: f.remote_user_id.clone(),
            fabric_usage: f.usage,
            remote_endpoint_type: f.remote_endpoint_type,
            transmission_direction: f.direction,
            created_at: f.created_at,
            setup_at: o.setup_at_ms.and_then(ms),
            failed_at,
            terminated_at: f.terminated_at,
            setup_delay_ms: o.delay_ms,
            ice_gathering_ms: o.breakdown.ice_gathering_ms,
            ice_connectivity_ms: o.breakdown.ice_connectivity_ms,
            dtls_ms: o.breakdown.dtls_ms,
            outcome: fabric_outcome_str(o.outcome),
            failure_reason: f.failure_reason,
            failure_category: o.failure_category.map(|c| c.as_str()),
            failed_function: f.failed_function,
            relayed: f.relay.relayed,
            relay_protocol: f.relay.relay_protocol.clone(),
            local_candidate_type: f.relay.local_candidate_type.clone(),
            remote_candidate_type: f.relay.remote_candidate_type.clone(),
            transport_protocol: f.relay.transport_protocol.clone(),
            ice_restarts: i32::try_from(o.ice_restarts).unwrap_or(i32::MAX),
            disruptions: i32::try_from(o.disruptions).unwrap_or(i32::MAX),
            disrupted_ms: Some(o.disrupted_ms),
            transport_changes: f.transport_changes,
            dropped: o.outcome == Outcome::Dropped || f.dropped_event,
            terminated_reason: f.terminated_reason.clone(),
            // Client clocks can hold anything: saturate instead of overflowing.
            duration_ms: f.created_at.map(|c| end_of_fabric.saturating_sub(c).max(0)),
            last_event_at: f.last_received_at,
            dropped_at: f.dropped_at.or(o.dropped_at_ms.and_then(ms)),
            recovered_disruptions: Some(i32::try_from(o.recovered_disruptions).unwrap_or(i32::MAX)),
            packets_received: packets.received,
            packets_received_lost: packets.received_lost,
            packets_sent: packets.sent,
            packets_sent_lost: packets.sent_lost,
            received_loss_pct: packets.received_loss_pct(),
            sent_loss_pct: packets.sent_loss_pct(),
        });
    }
    let setup_status = match (setup_count, failed_count) {
        (0, 0) => None,
        (_, 0) => Some(SetupStatus::Success.as_str()),
        (0, _) => Some(SetupStatus::Failed.as_str()),
        _ => Some(SetupStatus::PartiallyFailed.as_str()),
    };

    // Per associated user: participants and users known only from the SSRC map.
    let mut user_ids: BTreeSet<&String> = conf.users.keys().collect();
    user_ids.extend(conf.quality.keys());
    let empty = Quality::default();
    let mut users = Vec::with_capacity(user_ids.len());
    let mut all_audio = Aggregate::new();
    let mut all_video = Aggregate::new();
    let mut worst_mos: Option<(f64, String)> = None;
    let mut worst_video: Option<f64> = None;
    for user_id in user_ids {
        let q = conf.quality.get(user_id).unwrap_or(&empty);
        let u = conf.users.get(user_id);
        all_audio.merge(&q.audio);
        all_video.merge(&q.video);
        let mut merged = q.audio.clone();
        merged.merge(&q.video);
        let means = merged.mean();
        let (audio, video) = (q.audio.mean(), q.video.mean());
        let (mean_mos, mean_video) = (audio.score, video.score);
        // Audio and video bitrates differ by two orders of magnitude: each is a mean over its
        // own intervals, and the user's is their sum, not their mean.
        let (audio_bitrate, video_bitrate) = (audio.bitrate_bps, video.bitrate_bps);
        if let Some(m) = mean_mos
            && worst_mos.as_ref().is_none_or(|(w, _)| m < *w)
        {
            worst_mos = Some((m, user_id.clone()));
        }
        if let Some(v) = mean_video {
            worst_video = Some(worst_video.map_or(v, |w: f64| w.min(v)));
        }
        let shares = merged.share_per_band();
        let joined = u.and_then(|u| u.joined_at);
        let left = u.and_then(|u| u.left_at);
        users.push(UserQualityRow {
            app_id: key.app_id.clone(),
            date: date.clone(),
            conference_id: key.conference_id.clone(),
            segment: conf.segment,
            user_id: user_id.clone(),
            uc_id: u.and_then(|u| u.uc_id.clone()),
            endpoint_type: u.and_then(|u| u.endpoint_type.clone()),
            browser: u.and_then(|u| u.browser.clone()),
            browser_version: u.and_then(|u| u.browser_version.clone()),
            os: u.and_then(|u| u.os.clone()),
            os_version: u.and_then(|u| u.os_version.clone()),
            app_version: u.and_then(|u| u.app_version.clone()),
            site_id: u.and_then(|u| u.site_id.clone()),
            joined_at: joined,
            left_at: left,
            duration_ms: u.map(|u| {
                left.unwrap_or(u.last_seen)
                    .saturating_sub(joined.unwrap_or(u.first_seen))
                    .max(0)
            }),
            measured_ms: ms(merged.coverage.total_ms()).unwrap_or(0),
            mean_mos,
            mean_video_score: mean_video,
            mean_loss_pct: means.loss_pct,
            mean_jitter_ms: means.jitter_ms,
            mean_rtt_ms: means.rtt_ms,
            mean_bitrate_bps: match (audio_bitrate, video_bitrate) {
                (None, None) => None,
                (a, v) => Some(a.unwrap_or(0.0) + v.unwrap_or(0.0)),
            },
            mean_audio_bitrate_bps: audio_bitrate,
            mean_video_bitrate_bps: video_bitrate,
            worst_interval_start: q.audio.worst.or(q.video.worst).and_then(|w| ms(w.start_ms)),
            worst_interval_mos: q.audio.worst.map(|w| w.score.value()),
            worst_interval_video_score: q.video.worst.map(|w| w.score.value()),
            share_excellent: shares.map(|s| s.excellent),
            share_good: shares.map(|s| s.good),
            share_fair: shares.map(|s| s.fair),
            share_poor: shares.map(|s| s.poor),
            share_bad: shares.map(|s| s.bad),
            feedback_overall: u.and_then(|u| u.feedback_overall),
        });
    }
    let participants = conf.users.values();
    let conference = ConferenceRow {
        app_id: key.app_id.clone(),
        date: date.clone(),
        conference_id: key.conference_id.clone(),
        segment: conf.segment,
        start_time: start,
        end_time: Some(end),
        duration_ms: Some(end.saturating_sub(start)),
        end_reason: Some(end_reason.to_owned()),
        last_event_at: conf.last_ms,
        users: i32::try_from(conf.users.len()).unwrap_or(i32::MAX),
        fabrics: i32::try_from(conf.fabrics.len()).unwrap_or(i32::MAX),
        fabrics_setup: setup_count,
        fabrics_failed: failed_count,
        setup_status,
        setup_delay_min_ms: delays.iter().copied().reduce(f64::min),
        setup_delay_max_ms: delays.iter().copied().reduce(f64::max),
        setup_delay_mean_ms: mean(&delays),
        setup_delay_median_ms: median(&delays),
        failures_by_reason: (!failures.is_empty()).then(|| failures.into_iter().collect()),
        termination_reasons: (!terminations.is_empty()).then(|| terminations.into_iter().collect()),
        mean_mos: all_audio.mean().score,
        worst_user_mos: worst_mos.as_ref().map(|(m, _)| *m),
        worst_user_id: worst_mos.map(|(_, u)| u),
        mean_video_score: all_video.mean().score,
        worst_user_video_score: worst_video,
        feedback_mean: (conf.feedback_count > 0)
            .then(|| conf.feedback_sum as f64 / f64::from(conf.feedback_count)),
        feedback_count: conf.feedback_count,
        relay_share: (relay_known > 0).then(|| f64::from(relayed) / f64::from(relay_known)),
        browsers: distinct(participants.clone().map(|u| u.browser.clone())),
        os: distinct(participants.clone().map(|u| u.os.clone())),
        app_versions: distinct(participants.clone().map(|u| u.app_version.clone())),
        site_ids: distinct(participants.map(|u| u.site_id.clone())),
    };
    Summary {
        app_id: key.app_id.clone(),
        date,
        first: conf.first,
        conference,
        fabrics,
        users,
    }
}

#[cfg(test)]
#[path = "../tests/common/scenario.rs"]
mod scenario;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::scenario::{self, T0};
    use super::*;

    const MAIN: &str = "conf-main";

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// Borrowed keys find what owned keys find, and a range from `(user, "")` runs over that
    /// user's fabrics in order, as with `(String, String)` bounds.
    #[test]
    fn fabrics_are_found_by_borrowed_keys() {
        let mut map: BTreeMap<(String, String), i32> = BTreeMap::new();
        for (i, (u, c)) in [
            ("bob", "pc2"),
            ("alice", "pc9"),
            ("bob", "pc1"),
            ("bo", "pc0"),
        ]
        .into_iter()
        .enumerate()
        {
            map.insert((u.to_owned(), c.to_owned()), i as i32);
        }
        assert_eq!(map.get(&("bob", "pc1") as &dyn PairKey), Some(&2));
        assert_eq!(map.get(&("bob", "pc3") as &dyn PairKey), None);
        let from: &dyn PairKey = &("bob", "");
        let bobs: Vec<i32> = map
            .range::<dyn PairKey, _>((Bound::Included(from), Bound::Unbounded))
            .take_while(|((u, _), _)| u == "bob")
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(bobs, [2, 0]);
    }

    #[test]
    fn ssrcs_are_written_in_decimal_as_to_string_writes_them() {
        let mut buf = [0u8; 10];
        for n in [0, 7, 10, 1000, 123_456_789, u32::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string());
        }
        assert_eq!(decimal(u32::MAX, &mut buf), "4294967295");
    }

    fn assert_close(got: Option<f64>, want: f64, what: &str) {
        let got = got.unwrap_or_else(|| panic!("{what}: missing, want {want}"));
        assert!(close(got, want), "{what}: got {got}, want {want}");
    }

    /// Applies records as the bus would deliver them, from `first_offset` on.
    fn feed(state: &mut PartitionState, records: &[Vec<Envelope>], first_offset: i64, mode: Mode) {
        for (i, record) in records.iter().enumerate() {
            for (j, env) in record.iter().enumerate() {
                let pos = Position::new(first_offset + i as i64, j as u32);
                state.apply(env, pos, mode);
            }
        }
    }

    /// An envelope of another conference received at `received`: it only moves the clock.
    fn clock(received: i64) -> Envelope {
        Envelope::new(
            scenario::APP,
            "conf-clock",
            received,
            callscope_schemas::Origin::Rest,
            serde_json::from_value::<Payload>(json!({"kind": "user_alive", "data": {}})).unwrap(),
        )
    }

    // Hand-worked E-model values (docs/quality.md §2, Opus: Ie 0, Bpl 25, R0 93.2):
    // alice's first inbound interval: loss 50 / 1050 = 4.761905 %, d = 20/2 + 40 + 20 = 70 ms,
    // Id = 0.024·70 = 1.68, Ie,eff = 95·Ppl/(Ppl + 25) = 95·(100/21)/(625/21) = 15.2,
    // R = 93.2 − 1.68 − 15.2 = 76.32, MOS = 1 + 0.035·76.32 + 7e-6·76.32·16.32·23.68.
    const MOS_LOSSY: f64 = 1.0 + 0.035 * 76.32 + 7e-6 * 76.32 * 16.32 * 23.68; // 3.877661
    // after the reset: no loss, R = 93.2 − 1.68 = 91.52.
    const MOS_CLEAN: f64 = 1.0 + 0.035 * 91.52 + 7e-6 * 91.52 * 31.52 * 8.48; // 4.374436
    // bob's inbound of carol's voice: no RTT known (0), d = 40 + 20 = 60, Id = 1.44, R = 91.76.
    const MOS_CAROL: f64 = 1.0 + 0.035 * 91.76 + 7e-6 * 91.76 * 31.76 * 8.24; // 4.379697

    #[test]
    fn hand_computed_mos_values() {
        assert!(close(MOS_LOSSY, 3.877_661_108), "{MOS_LOSSY}");
        assert!(close(MOS_CLEAN, 4.374_436), "{MOS_CLEAN}");
        assert!(close(MOS_CAROL, 4.379_696_68), "{MOS_CAROL}");
    }

    #[test]
    fn scripted_conference_rows_and_summary_after_everyone_left() {
        let mut state = PartitionState::new(3, StateConfig::default());
        let records = scenario::records(MAIN, T0);
        feed(&mut state, &records, 0, Mode::Live);
        let out = state.take_output();
        // The column builders hold what the rows the tests read say (checked table by table
        // inside `batches`), and the flush encodes them.
        let files = crate::writer::plan_files(3, Some((0, 99)), &out, 1024).unwrap();
        assert!(
            files
                .iter()
                .any(|f| f.table == "stats_samples" && f.rows == 18)
        );
        let envelopes: usize = records.iter().map(Vec::len).sum();
        assert_eq!(out.events.len(), envelopes);
        assert_eq!(out.events.rows[0].bus_partition, Some(3));
        assert_eq!(out.events.rows[0].bus_offset, Some(0));
        assert_eq!(out.events.rows[0].date, "2023-11-14");
        assert_eq!(out.errors.len(), 2, "report_error + fabric_setup_failed");
        assert_eq!(out.feedback.len(), 2);
        // alice: 4 samples × (inbound, outbound, candidate pair, codec); bob: 2 × 1.
        assert_eq!(out.stats_samples.len(), 18);
        let s = out
            .stats_samples
            .rows
            .iter()
            .find(|r| r.report_id == "IT-A1" && r.sample_ts == T0 + 20_000)
            .unwrap();
        assert_eq!(
            (s.report_id.as_str(), s.packets_received),
            ("IT-A1", Some(2000)),
            "iOS string read as a number"
        );
        assert_eq!(s.jitter_s, Some(0.01));
        assert_eq!(s.mime_type, None);
        assert_eq!(s.other_json, None, "every member of IT-A1 has a column");
        let codec = &out.stats_samples.rows[3];
        assert_eq!(codec.mime_type.as_deref(), Some("audio/opus"));
        assert_eq!(codec.other_json.as_deref(), Some(r#"{"clockRate":48000}"#));

        // Track intervals: inbound 10→20 s and 30→40 s (the reset at 30 s gives none),
        // outbound 10→20, 20→30, 30→40, bob's inbound 10→20.
        assert_eq!(out.track_quality.len(), 6);
        let inbound: Vec<&TrackQualityRow> = out
            .track_quality
            .rows
            .iter()
            .filter(|r| r.track_id.as_deref() == Some("IT-A1"))
            .collect();
        assert_eq!(inbound.len(), 2);
        let lossy = inbound[0];
        assert_eq!(
            (lossy.interval_start, lossy.interval_end),
            (T0 + 10_000, T0 + 20_000)
        );
        assert_eq!(
            (lossy.packets_received, lossy.packets_lost),
            (Some(1000), Some(50))
        );
        // 100 · 50 / (1000 + 50)
        assert_close(lossy.loss_pct, 100.0 * 50.0 / 1050.0, "loss");
        assert_close(lossy.loss_pct, 4.761_904_76, "loss");
        // 8 · 1 250 000 B / 10 s
        assert_close(lossy.bitrate_bps, 1_000_000.0, "bitrate");
        assert_close(lossy.jitter_ms, 10.0, "jitter");
        assert_close(lossy.rtt_ms, 20.0, "rtt from the candidate pair");
        assert_close(lossy.mos, MOS_LOSSY, "mos");
        assert_eq!(lossy.band, Some("fair"), "3.5970 ≤ 3.8777 < 4.024");
        assert!(!lossy.after_gap);
        assert_eq!(
            lossy.associated_user_id.as_deref(),
            Some("bob"),
            "inbound → remote user"
        );
        assert_eq!((lossy.direction, lossy.media_kind), ("inbound", "audio"));
        assert_eq!(lossy.codec.as_deref(), Some("audio/opus"));
        assert_eq!((lossy.ssrc, lossy.segment), (1001, 0));
        let clean = inbound[1];
        assert!(clean.after_gap, "first interval after a counter reset");
        assert_eq!(
            (clean.interval_start, clean.interval_end),
            (T0 + 30_000, T0 + 40_000)
        );
        assert_close(clean.loss_pct, 0.0, "loss after reset");
        // 8 · 62 500 B / 10 s
        assert_close(clean.bitrate_bps, 50_000.0, "bitrate after reset");
        assert_close(clean.mos, MOS_CLEAN, "mos after reset");
        assert_eq!(clean.band, Some("excellent"));
        let outbound = out
            .track_quality
            .rows
            .iter()
            .find(|r| r.track_id.as_deref() == Some("OT-A1"))
            .unwrap();
        assert_eq!(
            outbound.associated_user_id.as_deref(),
            Some("alice"),
            "outbound → local user"
        );
        // 8 · 80 000 B / 10 s
        assert_close(outbound.bitrate_bps, 64_000.0, "outbound bitrate");
        assert_eq!(
            (outbound.mos, outbound.band),
            (None, None),
            "send side is not scored"
        );
        let bob = out
            .track_quality
            .rows
            .iter()
            .find(|r| r.user_id == "bob")
            .unwrap();
        assert_eq!(
            bob.associated_user_id.as_deref(),
            Some("carol"),
            "from the ssrc map"
        );
        assert_eq!(bob.usage_label.as_deref(), Some("mic"));
        assert_close(bob.mos, MOS_CAROL, "carol's voice at bob");

        // Everyone is done at carol's leave (received 51 050); the segment stays open for the
        // 10 s grace and closes when the clock reaches 61 050.
        assert!(out.summaries.is_empty());
        assert_eq!(state.open_count(), 1);
        assert_eq!(state.oldest_open_offset(), Some(0));
        state.apply(&clock(T0 + 61_049), Position::new(100, 0), Mode::Live);
        assert!(state.take_output().summaries.is_empty());
        state.apply(&clock(T0 + 61_050), Position::new(101, 0), Mode::Live);
        let out = state.take_output();
        assert_eq!(out.summaries.len(), 1);
        assert_eq!(state.open_count(), 0);
        let s = &out.summaries[0];
        assert_eq!(s.first, Position::new(0, 0));
        let c = &s.conference;
        assert_eq!((c.conference_id.as_str(), c.segment), (MAIN, 0));
        assert_eq!(c.end_reason.as_deref(), Some("all_left"));
        // start: the first fabric creation (received 1 050); end: carol's leave (51 050).
        assert_eq!((c.start_time, c.end_time), (T0 + 1_050, Some(T0 + 51_050)));
        assert_eq!(c.duration_ms, Some(50_000));
        assert_eq!(
            c.last_event_at,
            T0 + 53_050,
            "feedback in the grace period counts"
        );
        assert_eq!(
            (c.users, c.fabrics, c.fabrics_setup, c.fabrics_failed),
            (3, 4, 3, 1)
        );
        assert_eq!(c.setup_status, Some("partially_failed"));
        // Set-up fabrics: 600 (bob), 850 (alice→bob), 1200 (alice→carol).
        assert_eq!(
            (c.setup_delay_min_ms, c.setup_delay_max_ms),
            (Some(600.0), Some(1200.0))
        );
        assert_close(
            c.setup_delay_mean_ms,
            (600.0 + 850.0 + 1200.0) / 3.0,
            "mean delay",
        );
        assert_eq!(c.setup_delay_median_ms, Some(850.0));
        assert_eq!(
            c.failures_by_reason,
            Some(vec![("IceConnectionFailure".into(), 1)])
        );
        assert_eq!(
            c.termination_reasons,
            Some(vec![("hangup".into(), 3), ("user_left".into(), 1)])
        );
        // Audio time-weighted over every associated user: (3.877661 + 4.374436 + 4.379697) / 3.
        assert_close(
            c.mean_mos,
            (MOS_LOSSY + MOS_CLEAN + MOS_CAROL) / 3.0,
            "conference mos",
        );
        assert_close(c.mean_mos, 4.210_598, "conference mos");
        // bob's media: (3.877661 + 4.374436) / 2 = 4.126049 < carol's 4.379697.
        assert_close(
            c.worst_user_mos,
            (MOS_LOSSY + MOS_CLEAN) / 2.0,
            "worst user",
        );
        assert_eq!(c.worst_user_id.as_deref(), Some("bob"));
        assert_eq!(c.mean_video_score, None);
        assert_eq!((c.feedback_mean, c.feedback_count), (Some(3.0), 2));
        // pc-ab relayed, pc-ac not, pc-ba unknown.
        assert_eq!(c.relay_share, Some(0.5));
        let strs = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(c.browsers, strs(&["Chrome", "Firefox", "Safari"]));
        assert_eq!(c.os, strs(&["Windows", "iOS", "macOS"]));
        assert_eq!(c.app_versions, strs(&["2.0", "2.1"]));
        assert_eq!(c.site_ids, strs(&["hq"]));

        let fabric = |pc: &str| s.fabrics.iter().find(|f| f.connection_id == pc).unwrap();
        let ab = fabric("pc-ab");
        assert_eq!(
            (ab.created_at, ab.setup_at),
            (Some(T0 + 1_000), Some(T0 + 1_850))
        );
        assert_eq!(ab.setup_delay_ms, Some(850.0));
        assert_eq!(ab.ice_gathering_ms, Some(120.0));
        assert_eq!(
            ab.ice_connectivity_ms,
            Some(700.0),
            "checking 1 100 → connected 1 800"
        );
        assert_eq!(ab.dtls_ms, Some(30.0));
        assert_eq!(ab.outcome, "setup");
        assert_eq!(ab.relayed, Some(true));
        assert_eq!(ab.relay_protocol.as_deref(), Some("udp"));
        assert_eq!(ab.local_candidate_type.as_deref(), Some("relay"));
        assert_eq!((ab.disruptions, ab.disrupted_ms), (1, Some(2_000.0)));
        assert_eq!(ab.terminated_reason.as_deref(), Some("hangup"));
        assert_eq!(ab.duration_ms, Some(49_000));
        assert!(!ab.dropped);
        assert_eq!((ab.dropped_at, ab.recovered_disruptions), (None, Some(1)));
        // Per-direction totals: inbound 1001 ran to 2000 (60 lost), restarted and ran to 600
        // (0 lost); outbound 2001 ended at 4000; no remote-inbound report, so no sent loss.
        assert_eq!(
            (
                ab.packets_received,
                ab.packets_received_lost,
                ab.packets_sent,
                ab.packets_sent_lost
            ),
            (Some(2600), Some(60), Some(4000), None)
        );
        assert_close(ab.received_loss_pct, 100.0 * 60.0 / 2660.0, "fabric loss");
        assert_eq!(ab.sent_loss_pct, None);
        let ba = fabric("pc-ba");
        assert_eq!(
            (
                ba.packets_received,
                ba.packets_received_lost,
                ba.packets_sent
            ),
            (Some(500), Some(0), None)
        );
        assert_close(ba.received_loss_pct, 0.0, "no loss");
        let ca = fabric("pc-ca");
        assert_eq!(ca.outcome, "failed");
        assert_eq!(ca.setup_delay_ms, Some(5_000.0));
        assert_eq!(ca.failed_at, Some(T0 + 6_200));
        assert_eq!(ca.failure_reason, Some("IceConnectionFailure"));
        assert_eq!(ca.failure_category, Some("ice_nat"));
        assert_eq!(ca.failed_function, Some("iceConnectionFailure"));
        assert_eq!(fabric("pc-ba").relayed, None);

        let user = |u: &str| s.users.iter().find(|r| r.user_id == u).unwrap();
        let bob = user("bob");
        assert_eq!(bob.measured_ms, 20_000);
        assert_close(bob.mean_mos, (MOS_LOSSY + MOS_CLEAN) / 2.0, "bob mos");
        assert_eq!(
            (bob.share_fair, bob.share_excellent),
            (Some(0.5), Some(0.5))
        );
        assert_close(bob.mean_loss_pct, 100.0 * 50.0 / 1050.0 / 2.0, "bob loss");
        // Audio only: the user's bitrate is the audio one.
        assert_close(
            bob.mean_bitrate_bps,
            (1_000_000.0 + 50_000.0) / 2.0,
            "bob bitrate",
        );
        assert_close(
            bob.mean_audio_bitrate_bps,
            (1_000_000.0 + 50_000.0) / 2.0,
            "bob audio bitrate",
        );
        assert_eq!(bob.mean_video_bitrate_bps, None);
        assert_eq!(bob.worst_interval_start, Some(T0 + 10_000));
        assert_close(bob.worst_interval_mos, MOS_LOSSY, "bob worst");
        assert_eq!(bob.browser.as_deref(), Some("Firefox"));
        assert_eq!(bob.joined_at, Some(T0 + 150));
        let carol = user("carol");
        assert_eq!(
            (carol.measured_ms, carol.feedback_overall),
            (10_000, Some(4))
        );
        assert_eq!(carol.left_at, Some(T0 + 51_050));
        let alice = user("alice");
        assert_eq!((alice.measured_ms, alice.mean_mos), (0, None));
        assert_eq!(alice.feedback_overall, Some(2));
        assert_eq!(
            alice.duration_ms,
            Some(52_000),
            "joined 50 → last seen 52 050"
        );

        let history = state.history(None);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].segments[0].end_reason, "all_left");
        assert_eq!(history[0].segments[0].last, Position::new(27, 0));
    }

    #[test]
    fn without_grace_the_last_leave_closes_and_trailing_feedback_opens_nothing() {
        let config = StateConfig {
            close_grace_ms: 0,
            ..StateConfig::default()
        };
        let mut state = PartitionState::new(0, config);
        let records = scenario::records(MAIN, T0);
        // Up to and including carol's leave (record 25).
        feed(&mut state, &records[..26], 0, Mode::Live);
        let out = state.take_output();
        assert_eq!(out.summaries.len(), 1);
        let c = &out.summaries[0].conference;
        assert_eq!(c.end_time, Some(T0 + 51_050));
        assert_eq!(c.end_reason.as_deref(), Some("all_left"));
        assert_eq!(c.feedback_count, 0);
        feed(&mut state, &records[26..], 26, Mode::Live);
        let out = state.take_output();
        assert_eq!(out.feedback.len(), 2, "feedback rows are still written");
        assert!(out.summaries.is_empty());
        assert_eq!(
            state.open_count(),
            0,
            "feedback after the end opens no segment"
        );
    }

    #[test]
    fn idle_conference_times_out_on_the_event_clock_and_late_data_starts_segment_1() {
        let mut state = PartitionState::new(0, StateConfig::default());
        feed(
            &mut state,
            &scenario::idle_records("idle", T0),
            0,
            Mode::Live,
        );
        state.take_output();
        // Last message received at 2 050: closes once the clock is past 2 050 + 30 000.
        state.apply(&clock(T0 + 32_050), Position::new(10, 0), Mode::Live);
        assert_eq!(state.open_count(), 1);
        state.apply(&clock(T0 + 32_051), Position::new(11, 0), Mode::Live);
        assert_eq!(state.open_count(), 0);
        let out = state.take_output();
        let c = &out.summaries[0].conference;
        assert_eq!(c.end_reason.as_deref(), Some("timeout"));
        // Start: fabric created (received 550); end: the last message (2 050).
        assert_eq!(
            (c.start_time, c.end_time, c.duration_ms),
            (T0 + 550, Some(T0 + 2_050), Some(1_500))
        );
        assert_eq!(c.setup_status, Some("success"));
        assert_eq!(c.termination_reasons, Some(vec![("timeout".into(), 1)]));
        let f = &out.summaries[0].fabrics[0];
        assert_eq!((f.outcome, f.setup_delay_ms), ("setup", Some(1_000.0)));

        // Presence alone does not reopen it; a stats sample does, as segment 1.
        let alive = scenario::ev("idle", "dave", T0, 40_000, "user_alive", json!({}));
        state.apply(&alive, Position::new(12, 0), Mode::Live);
        assert_eq!(state.open_count(), 0);
        let late = scenario::idle_records("idle", T0 + 40_000)
            .remove(3)
            .remove(0);
        state.apply(&late, Position::new(13, 0), Mode::Live);
        assert_eq!(state.open_count(), 1);
        state.apply(&clock(T0 + 90_000), Position::new(14, 0), Mode::Live);
        let out = state.take_output();
        assert_eq!(out.summaries.len(), 1);
        assert_eq!(out.summaries[0].conference.segment, 1);
        assert_eq!(out.summaries[0].first, Position::new(13, 0));
        let history = state.history(None);
        assert_eq!(
            history[0]
                .segments
                .iter()
                .map(|s| s.segment)
                .collect::<Vec<_>>(),
            [0, 1]
        );
    }

    #[test]
    fn eviction_closes_the_next_to_expire_with_its_own_reason() {
        let mut state = PartitionState::new(0, StateConfig::default());
        feed(&mut state, &scenario::idle_records("a", T0), 0, Mode::Live);
        feed(
            &mut state,
            &scenario::idle_records("b", T0 + 1_000),
            10,
            Mode::Live,
        );
        assert!(state.evict_one());
        let out = state.take_output();
        assert_eq!(out.summaries[0].conference.conference_id, "a");
        assert_eq!(
            out.summaries[0].conference.end_reason.as_deref(),
            Some("evicted")
        );
        assert_eq!(state.open_count(), 1);
    }

    #[test]
    fn app_level_reports_give_event_rows_only() {
        let mut state = PartitionState::new(0, StateConfig::default());
        let env = Envelope::new(
            scenario::APP,
            callscope_schemas::envelope::app_level_conference_id("jvb-1"),
            T0,
            callscope_schemas::Origin::Rest,
            serde_json::from_value::<Payload>(json!({"kind": "bridge_alive", "data": {}})).unwrap(),
        );
        state.apply(&env, Position::new(0, 0), Mode::Live);
        let out = state.take_output();
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events.rows[0].conference_id, "_app:jvb-1");
        assert_eq!(state.open_count(), 0);
    }

    #[test]
    fn a_retried_batch_is_applied_once() {
        let mut records = scenario::records(MAIN, T0);
        for (i, record) in records.iter_mut().enumerate() {
            for env in record.iter_mut() {
                env.batch_id = Some(format!("b-{i}"));
            }
        }
        let run = |records: &[Vec<Envelope>]| {
            let mut state = PartitionState::new(0, StateConfig::default());
            feed(&mut state, records, 0, Mode::Live);
            // An hour later everything has closed.
            state.expire(T0 + 3_600_000);
            state.take_output()
        };
        let want = run(&records);
        assert_eq!(want.summaries.len(), 1, "the scripted conference closed");
        // Every record but the last delivered twice in a row, as when the SDK retries a batch
        // whose answer was lost (a retry after the conference closed would be late data, see
        // docs/processor.md).
        let last = records.len() - 1;
        let retried: Vec<Vec<Envelope>> = records
            .iter()
            .enumerate()
            .flat_map(|(i, r)| std::iter::repeat_n(r.clone(), if i < last { 2 } else { 1 }))
            .collect();
        let got = run(&retried);
        assert_eq!(got.events.len(), want.events.len());
        assert_eq!(got.stats_samples.len(), want.stats_samples.len());
        assert_eq!(got.track_quality.len(), want.track_quality.len());
        assert_eq!(got.feedback.len(), want.feedback.len());
        assert_eq!(got.summaries.len(), 1);
        assert_eq!(got.summaries[0].users, want.summaries[0].users);
        assert_eq!(got.summaries[0].fabrics, want.summaries[0].fabrics);
        // The same records without batch IDs are counted twice: the IDs are what prevents it.
        let anonymous: Vec<Vec<Envelope>> = retried
            .iter()
            .map(|r| {
                r.iter()
                    .map(|e| Envelope {
                        batch_id: None,
                        ..e.clone()
                    })
                    .collect()
            })
            .collect();
        let doubled = run(&anonymous);
        assert_eq!(
            doubled.events.len(),
            want.events.len() + records[..last].iter().map(Vec::len).sum::<usize>()
        );
    }

    #[test]
    fn integration_progress_gives_integration_rows_only_and_none_on_rebuild() {
        let mut state = PartitionState::new(3, StateConfig::default());
        let env = callscope_schemas::examples::envelope(EventKind::IntegrationProgress);
        let env = Envelope {
            conference_id: callscope_schemas::integration::INTEGRATION_CONFERENCE_ID.to_owned(),
            ..env
        };
        state.apply(&env, Position::new(41, 0), Mode::Live);
        let out = state.take_output();
        assert!(out.events.is_empty());
        assert_eq!(state.open_count(), 0);
        // The example record: one item, send_fabric_event, 3 accepted and 1 refused.
        assert_eq!(out.integration.len(), 1);
        let row = &out.integration[0];
        assert_eq!(row.item, "send_fabric_event");
        assert_eq!((row.accepted, row.refused), (3, 1));
        assert_eq!(
            (row.window_start, row.window_end),
            (1_700_000_000_000, 1_700_000_001_000)
        );
        assert_eq!(row.last_status, Some(422));
        assert_eq!(row.last_field.as_deref(), Some("events[0].data.eventType"));
        assert_eq!((row.bus_partition, row.bus_offset), (Some(3), Some(41)));
        // The record's receive time, 1_700_000_000_000 ms, is 2023-11-14T22:13:20Z.
        assert_eq!(row.date, "2023-11-14");
        // A replay of a flushed offset writes nothing again.
        state.apply(&env, Position::new(41, 0), Mode::Rebuild);
        assert!(state.take_output().integration.is_empty());
    }

    /// What run.rs does across a restart, without I/O: a checkpoint taken at offset `f` with
    /// the commit held at the oldest open conference; a new state restored from it replays the
    /// committed offsets (rebuild up to `f`, live after) and must produce exactly the rows the
    /// uninterrupted state produced after `f`.
    #[test]
    fn replay_from_a_checkpoint_produces_the_same_rows_as_no_restart() {
        let x = scenario::idle_records("x", T0);
        let main = scenario::records(MAIN, T0);
        // x starts first, main second, x continues: x's segment starts before the commit point.
        let mut records = vec![
            x[0].clone(),
            x[1].clone(),
            main[0].clone(),
            x[2].clone(),
            x[3].clone(),
        ];
        records.extend(main[1..].iter().cloned());
        // Late data for x (segment 1) and the clock that closes everything.
        records.push(scenario::idle_records("x", T0 + 45_000)[3].clone());
        records.push(vec![clock(T0 + 200_000)]);
        let total = records.len() as i64;

        let mut a = PartitionState::new(0, StateConfig::default());
        let f = 27; // main's stats at 40 s (record 22 of main) closed x by timeout at offset 25.
        feed(&mut a, &records[..=f as usize], 0, Mode::Live);
        assert_eq!(a.open_count(), 1, "main still open at the checkpoint");
        let history = a.history(None);
        assert_eq!(history.len(), 1, "x closed");
        let clock_at_f = a.clock_ms();
        let committed = (f + 1).min(a.oldest_open_offset().unwrap());
        assert_eq!(committed, 2, "held at main's first offset");
        a.take_output();
        feed(&mut a, &records[f as usize + 1..], f + 1, Mode::Live);
        let want = a.take_output();

        let mut b = PartitionState::restored(0, StateConfig::default(), history, clock_at_f);
        for (i, record) in records.iter().enumerate().skip(committed as usize) {
            let offset = i as i64;
            let mode = if offset <= f {
                Mode::Rebuild
            } else {
                Mode::Live
            };
            for (j, env) in record.iter().enumerate() {
                b.apply(env, Position::new(offset, j as u32), mode);
            }
        }
        let got = b.take_output();
        assert_eq!(got.events.len() as i64, total - f - 1);
        assert_eq!(got.track_quality, want.track_quality);
        assert_eq!(got.stats_samples, want.stats_samples);
        assert_eq!(got.summaries, want.summaries);
        assert_eq!(got, want);
        let segments: Vec<(String, i32)> = got
            .summaries
            .iter()
            .map(|s| (s.conference.conference_id.clone(), s.conference.segment))
            .collect();
        assert_eq!(segments, [(MAIN.to_owned(), 0), ("x".to_owned(), 1)]);
    }

    /// The restart equivalence at every possible checkpoint, flushing after every record as
    /// run.rs may: the history saved at a checkpoint is pruned by the previous commit, the
    /// replay starts at the checkpoint's commit.
    #[test]
    fn replay_from_any_checkpoint_produces_the_same_rows_as_no_restart() {
        let x = scenario::idle_records("x", T0);
        let y = scenario::idle_records("y", T0 + 3_000);
        let main = scenario::records(MAIN, T0);
        let mut records = vec![x[0].clone(), x[1].clone(), main[0].clone(), y[0].clone()];
        records.extend([x[2].clone(), x[3].clone(), y[1].clone()]);
        records.extend(main[1..20].iter().cloned());
        records.push(scenario::idle_records("x", T0 + 45_000)[3].clone());
        records.extend(main[20..].iter().cloned());
        records.push(scenario::idle_records("y", T0 + 90_000)[3].clone());
        records.push(vec![clock(T0 + 200_000)]);

        let mut a = PartitionState::new(0, StateConfig::default());
        let mut outputs = Vec::new();
        let mut checkpoints = Vec::new();
        let mut previous_commit = None;
        for (i, record) in records.iter().enumerate() {
            feed(&mut a, std::slice::from_ref(record), i as i64, Mode::Live);
            outputs.push(a.take_output());
            let history = a.history(previous_commit);
            let next = i as i64 + 1;
            let commit = a.oldest_open_offset().map_or(next, |o| o.min(next));
            checkpoints.push((i as i64, history, a.clock_ms(), commit));
            previous_commit = Some(commit);
        }
        let closed: usize = outputs.iter().map(|o| o.summaries.len()).sum();
        assert_eq!(closed, 5, "main, x twice, y twice");

        for (f, history, clock_ms, commit) in checkpoints {
            let mut want = Output::default();
            for o in &outputs[f as usize + 1..] {
                for row in &o.events.rows {
                    want.events.push(row);
                }
                for row in &o.stats_samples.rows {
                    want.stats_samples.push(row);
                }
                for row in &o.track_quality.rows {
                    want.track_quality.push(row);
                }
                want.errors.extend(o.errors.iter().cloned());
                want.feedback.extend(o.feedback.iter().cloned());
                want.summaries.extend(o.summaries.iter().cloned());
            }
            let mut b = PartitionState::restored(0, StateConfig::default(), history, clock_ms);
            for (i, record) in records.iter().enumerate().skip(commit as usize) {
                let offset = i as i64;
                let mode = if offset <= f {
                    Mode::Rebuild
                } else {
                    Mode::Live
                };
                for (j, env) in record.iter().enumerate() {
                    b.apply(env, Position::new(offset, j as u32), mode);
                }
            }
            assert_eq!(
                b.take_output(),
                want,
                "checkpoint at offset {f}, commit {commit}"
            );
        }
    }

    #[test]
    fn history_forgets_what_no_replay_needs() {
        let mut state = PartitionState::new(0, StateConfig::default());
        feed(&mut state, &scenario::idle_records("a", T0), 0, Mode::Live);
        state.apply(&clock(T0 + 40_000), Position::new(4, 0), Mode::Live);
        assert_eq!(state.history(Some(0)).len(), 1);
        // Below the commit, but the latest segment within the late window: kept for numbering.
        assert_eq!(state.history(Some(10)).len(), 1);
        state.apply(
            &clock(T0 + 40_000 + 3_600_000),
            Position::new(5, 0),
            Mode::Live,
        );
        assert!(state.history(Some(10)).is_empty());
    }
}

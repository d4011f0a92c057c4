//! Interval metrics from cumulative getStats counters.
//!
//! getStats reports running totals (packets, bytes, freeze seconds…) and gauges (jitter, frame
//! size). Quality is judged per interval, so each pair of consecutive snapshots of one stats
//! object becomes one [`Interval`]. The rules (docs/quality.md, "Counters"):
//!
//! - a counter that goes backwards, or an SSRC / type / media change under the same stats id, is
//!   a reset: nothing is emitted and the new snapshot becomes the baseline;
//! - two snapshots further apart than [`TrackerConfig::max_gap_ms`] give an interval marked
//!   `gap` with no metrics, never an interpolation;
//! - snapshots older than (or as old as) the baseline are ignored and counted;
//! - `packetsLost` may legitimately decrease, so losses are counted against its high-water mark.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Default longest spacing between two snapshots that still yields metrics: 3 × the 10 s period
/// at which callstats.js sent stats.
pub const DEFAULT_MAX_GAP_MS: f64 = 30_000.0;

/// The getStats type of a stats object; the fields used depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackKind {
    InboundRtp,
    OutboundRtp,
    RemoteInboundRtp,
    RemoteOutboundRtp,
}

impl TrackKind {
    /// Parses the getStats `type` member (`"inbound-rtp"`…); `None` for types this module
    /// does not difference.
    #[must_use]
    pub fn from_stats_type(s: &str) -> Option<Self> {
        match s {
            "inbound-rtp" => Some(Self::InboundRtp),
            "outbound-rtp" => Some(Self::OutboundRtp),
            "remote-inbound-rtp" => Some(Self::RemoteInboundRtp),
            "remote-outbound-rtp" => Some(Self::RemoteOutboundRtp),
            _ => None,
        }
    }

    /// True for the kinds whose bytes and packets are counted on receipt.
    #[must_use]
    pub const fn is_receive_side(self) -> bool {
        matches!(self, Self::InboundRtp | Self::RemoteInboundRtp)
    }
}

/// Media kind of an RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Audio,
    Video,
}

impl Media {
    /// Parses the getStats `kind` member.
    #[must_use]
    pub fn from_kind(s: &str) -> Option<Self> {
        match s {
            "audio" => Some(Self::Audio),
            "video" => Some(Self::Video),
            _ => None,
        }
    }
}

/// One getStats report of one RTP stats object, with the fields this module uses.
///
/// Units are those of the W3C spec: timestamps in ms, durations and round-trip times in
/// seconds. A missing member is `None`; a non-finite or negative value in a seconds field is
/// treated as missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    /// The stats object id; the spec gives a new id when an SSRC changes or is recycled.
    pub stats_id: String,
    pub ssrc: Option<u32>,
    pub timestamp_ms: f64,
    pub kind: TrackKind,
    pub media: Media,

    pub packets_received: Option<u64>,
    pub packets_sent: Option<u64>,
    /// Signed: duplicates make it fall, and Chrome can even report it below zero.
    pub packets_lost: Option<i64>,
    pub bytes_received: Option<u64>,
    pub bytes_sent: Option<u64>,
    /// remote-inbound-rtp `fractionLost` (0..=1) from the last RTCP receiver report.
    pub fraction_lost: Option<f64>,
    pub jitter_s: Option<f64>,
    pub round_trip_time_s: Option<f64>,
    pub total_round_trip_time_s: Option<f64>,
    pub round_trip_time_measurements: Option<u64>,
    pub jitter_buffer_delay_s: Option<f64>,
    pub jitter_buffer_emitted_count: Option<u64>,

    pub frames_decoded: Option<u64>,
    pub frames_encoded: Option<u64>,
    pub frames_dropped: Option<u64>,
    pub frames_per_second: Option<f64>,
    pub frame_width: Option<u32>,
    pub frame_height: Option<u32>,
    pub freeze_count: Option<u64>,
    pub total_freezes_duration_s: Option<f64>,

    pub concealed_samples: Option<u64>,
    pub silent_concealed_samples: Option<u64>,
    pub total_samples_received: Option<u64>,
}

impl CounterSnapshot {
    /// A snapshot with every counter missing, to be filled with struct update syntax.
    #[must_use]
    pub fn new(
        stats_id: impl Into<String>,
        kind: TrackKind,
        media: Media,
        timestamp_ms: f64,
    ) -> Self {
        Self {
            stats_id: stats_id.into(),
            ssrc: None,
            timestamp_ms,
            kind,
            media,
            packets_received: None,
            packets_sent: None,
            packets_lost: None,
            bytes_received: None,
            bytes_sent: None,
            fraction_lost: None,
            jitter_s: None,
            round_trip_time_s: None,
            total_round_trip_time_s: None,
            round_trip_time_measurements: None,
            jitter_buffer_delay_s: None,
            jitter_buffer_emitted_count: None,
            frames_decoded: None,
            frames_encoded: None,
            frames_dropped: None,
            frames_per_second: None,
            frame_width: None,
            frame_height: None,
            freeze_count: None,
            total_freezes_duration_s: None,
            concealed_samples: None,
            silent_concealed_samples: None,
            total_samples_received: None,
        }
    }

    /// Drops values no browser can mean, so that no later arithmetic sees NaN or a negative
    /// duration.
    fn sanitized(mut self) -> Self {
        let nonneg = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
        self.jitter_s = nonneg(self.jitter_s);
        self.round_trip_time_s = nonneg(self.round_trip_time_s);
        self.total_round_trip_time_s = nonneg(self.total_round_trip_time_s);
        self.jitter_buffer_delay_s = nonneg(self.jitter_buffer_delay_s);
        self.frames_per_second = nonneg(self.frames_per_second);
        self.total_freezes_duration_s = nonneg(self.total_freezes_duration_s);
        self.fraction_lost = nonneg(self.fraction_lost).map(|f| f.min(1.0));
        self
    }

    /// The first monotonic counter that is lower here than in `prev`, if any.
    fn decreased_counter(&self, prev: &Self) -> Option<&'static str> {
        let u = |name, a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b < a => Some(name),
            _ => None,
        };
        let f = |name, a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b < a => Some(name),
            _ => None,
        };
        u(
            "packetsReceived",
            prev.packets_received,
            self.packets_received,
        )
        .or_else(|| u("packetsSent", prev.packets_sent, self.packets_sent))
        .or_else(|| u("bytesReceived", prev.bytes_received, self.bytes_received))
        .or_else(|| u("bytesSent", prev.bytes_sent, self.bytes_sent))
        .or_else(|| {
            u(
                "roundTripTimeMeasurements",
                prev.round_trip_time_measurements,
                self.round_trip_time_measurements,
            )
        })
        .or_else(|| {
            f(
                "totalRoundTripTime",
                prev.total_round_trip_time_s,
                self.total_round_trip_time_s,
            )
        })
        .or_else(|| {
            f(
                "jitterBufferDelay",
                prev.jitter_buffer_delay_s,
                self.jitter_buffer_delay_s,
            )
        })
        .or_else(|| {
            u(
                "jitterBufferEmittedCount",
                prev.jitter_buffer_emitted_count,
                self.jitter_buffer_emitted_count,
            )
        })
        .or_else(|| u("framesDecoded", prev.frames_decoded, self.frames_decoded))
        .or_else(|| u("framesEncoded", prev.frames_encoded, self.frames_encoded))
        .or_else(|| u("framesDropped", prev.frames_dropped, self.frames_dropped))
        .or_else(|| u("freezeCount", prev.freeze_count, self.freeze_count))
        .or_else(|| {
            f(
                "totalFreezesDuration",
                prev.total_freezes_duration_s,
                self.total_freezes_duration_s,
            )
        })
        .or_else(|| {
            u(
                "concealedSamples",
                prev.concealed_samples,
                self.concealed_samples,
            )
        })
        .or_else(|| {
            u(
                "silentConcealedSamples",
                prev.silent_concealed_samples,
                self.silent_concealed_samples,
            )
        })
        .or_else(|| {
            u(
                "totalSamplesReceived",
                prev.total_samples_received,
                self.total_samples_received,
            )
        })
    }
}

/// Metrics of one stats object between two snapshots.
///
/// Every metric is `None` when either snapshot lacks its inputs, when its denominator is zero,
/// and always in a `gap` interval. Counts are deltas and therefore unsigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub stats_id: String,
    pub ssrc: Option<u32>,
    pub kind: TrackKind,
    pub media: Media,
    pub start_ms: f64,
    pub end_ms: f64,
    pub duration_ms: f64,
    /// The snapshots were too far apart to difference; no metric is set.
    pub gap: bool,

    pub packets_received: Option<u64>,
    pub packets_sent: Option<u64>,
    /// Newly lost packets: the rise of `packetsLost` above its highest value so far.
    pub packets_lost: Option<u64>,
    /// `packets_received + packets_lost`.
    pub packets_expected: Option<u64>,
    /// `100 · lost / expected`; from `fractionLost` when the packet counters are missing.
    pub loss_pct: Option<f64>,
    pub bytes: Option<u64>,
    pub bitrate_bps: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub jitter_buffer_delay_ms: Option<f64>,
    pub fps: Option<f64>,
    pub frame_width: Option<u32>,
    pub frame_height: Option<u32>,
    pub frames_dropped: Option<u64>,
    pub freeze_count: Option<u64>,
    pub freeze_ms: Option<f64>,
    /// Share of received samples concealed, silent concealment excluded, in percent.
    pub concealment_pct: Option<f64>,
}

impl Interval {
    /// An interval with every metric missing, to be filled with struct update syntax.
    #[must_use]
    pub fn new(
        stats_id: impl Into<String>,
        kind: TrackKind,
        media: Media,
        start_ms: f64,
        end_ms: f64,
    ) -> Self {
        Self {
            stats_id: stats_id.into(),
            ssrc: None,
            kind,
            media,
            start_ms,
            end_ms,
            duration_ms: end_ms - start_ms,
            gap: false,
            packets_received: None,
            packets_sent: None,
            packets_lost: None,
            packets_expected: None,
            loss_pct: None,
            bytes: None,
            bitrate_bps: None,
            jitter_ms: None,
            rtt_ms: None,
            jitter_buffer_delay_ms: None,
            fps: None,
            frame_width: None,
            frame_height: None,
            frames_dropped: None,
            freeze_count: None,
            freeze_ms: None,
            concealment_pct: None,
        }
    }

    fn empty(prev: &CounterSnapshot, cur: &CounterSnapshot, gap: bool) -> Self {
        Self {
            ssrc: cur.ssrc,
            gap,
            ..Self::new(
                cur.stats_id.clone(),
                cur.kind,
                cur.media,
                prev.timestamp_ms,
                cur.timestamp_ms,
            )
        }
    }

    /// Freeze time as a share of the interval, in percent.
    #[must_use]
    pub fn freeze_pct(&self) -> Option<f64> {
        let ms = self.freeze_ms?;
        (self.duration_ms > 0.0).then(|| (100.0 * ms / self.duration_ms).clamp(0.0, 100.0))
    }
}

/// `100 · lost / (received + lost)`, `None` when nothing was expected: an interval without
/// traffic says nothing about loss and must not count as loss-free.
#[must_use]
pub fn loss_pct(received: u64, lost: u64) -> Option<f64> {
    let expected = received.saturating_add(lost);
    (expected > 0).then(|| 100.0 * lost as f64 / expected as f64)
}

/// Combines the simultaneous intervals of the layers (SSRCs) of one track, e.g. simulcast
/// encodings, as the reference prescribes ("sum deltas across SSRCs per track").
///
/// Counts and bitrates are summed and loss is recomputed from the sums; frame rate and size
/// come from the layer with the largest frame height (what a viewer sees at best); jitter,
/// RTT, jitter-buffer delay, freezes and concealment take the worst layer. `None` if `layers`
/// is empty or any layer is a gap, because a sum with a missing part would understate.
#[must_use]
pub fn combine_layers(layers: &[Interval]) -> Option<Interval> {
    let first = layers.first()?;
    if layers.iter().any(|l| l.gap) {
        return None;
    }
    let sum = |get: fn(&Interval) -> Option<u64>| {
        layers
            .iter()
            .filter_map(get)
            .fold(None, |acc: Option<u64>, v| {
                Some(acc.unwrap_or(0).saturating_add(v))
            })
    };
    let sumf = |get: fn(&Interval) -> Option<f64>| {
        layers
            .iter()
            .filter_map(get)
            .fold(None, |acc: Option<f64>, v| Some(acc.unwrap_or(0.0) + v))
    };
    let maxf = |get: fn(&Interval) -> Option<f64>| {
        layers
            .iter()
            .filter_map(get)
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a: f64| a.max(v)))
            })
    };
    let top = layers
        .iter()
        .filter(|l| l.frame_height.is_some())
        .max_by_key(|l| l.frame_height)
        .unwrap_or(first);
    let start_ms = layers
        .iter()
        .map(|l| l.start_ms)
        .fold(f64::INFINITY, f64::min);
    let end_ms = layers
        .iter()
        .map(|l| l.end_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let packets_received = sum(|l| l.packets_received);
    let packets_lost = sum(|l| l.packets_lost);
    let packets_expected = match (packets_received, packets_lost) {
        (Some(r), Some(l)) => Some(r.saturating_add(l)),
        _ => None,
    };
    let loss = match (packets_received, packets_lost) {
        (Some(r), Some(l)) => loss_pct(r, l),
        _ => maxf(|l| l.loss_pct),
    };
    Some(Interval {
        stats_id: first.stats_id.clone(),
        ssrc: None,
        kind: first.kind,
        media: first.media,
        start_ms,
        end_ms,
        duration_ms: end_ms - start_ms,
        gap: false,
        packets_received,
        packets_sent: sum(|l| l.packets_sent),
        packets_lost,
        packets_expected,
        loss_pct: loss,
        bytes: sum(|l| l.bytes),
        bitrate_bps: sumf(|l| l.bitrate_bps),
        jitter_ms: maxf(|l| l.jitter_ms),
        rtt_ms: maxf(|l| l.rtt_ms),
        jitter_buffer_delay_ms: maxf(|l| l.jitter_buffer_delay_ms),
        fps: top.fps,
        frame_width: top.frame_width,
        frame_height: top.frame_height,
        frames_dropped: sum(|l| l.frames_dropped),
        freeze_count: layers.iter().filter_map(|l| l.freeze_count).max(),
        freeze_ms: maxf(|l| l.freeze_ms),
        concealment_pct: maxf(|l| l.concealment_pct),
    })
}

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackerConfig {
    /// Longest spacing of two snapshots that is still differenced; longer is a gap.
    pub max_gap_ms: f64,
}

impl TrackerConfig {
    /// A gap is anything longer than three expected sample periods.
    #[must_use]
    pub fn from_sample_period(period_ms: f64) -> Self {
        Self {
            max_gap_ms: 3.0 * period_ms,
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            max_gap_ms: DEFAULT_MAX_GAP_MS,
        }
    }
}

/// Why a snapshot started a new segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetCause {
    SsrcChanged,
    /// The stats type or media kind under this id changed.
    KindChanged,
    /// The named monotonic counter went backwards.
    CounterDecreased(&'static str),
}

/// Why a snapshot was not used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IgnoreCause {
    /// Older than the current baseline.
    OutOfOrder,
    /// Same timestamp as the baseline: a cached report.
    Duplicate,
    /// The timestamp is not a finite number.
    InvalidTimestamp,
}

/// What one snapshot did to the tracker.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
#[allow(
    clippy::large_enum_variant,
    reason = "Interval is the common case; boxing it would allocate for nearly every snapshot"
)]
pub enum Update {
    /// First snapshot of this stats id: it is the baseline, nothing to difference yet.
    Baseline,
    /// A new interval; `gap` intervals carry no metrics.
    Interval(Interval),
    /// A counter reset: the snapshot is the new baseline, no interval.
    Reset(ResetCause),
    /// The snapshot was dropped; the baseline is unchanged.
    Ignored(IgnoreCause),
}

/// Running counts of what the tracker saw, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerStats {
    pub snapshots: u64,
    pub baselines: u64,
    pub intervals: u64,
    pub gaps: u64,
    /// Snapshots answered with [`Update::Reset`].
    pub resets: u64,
    /// Counters that went backwards across a gap (the gap interval was emitted).
    pub resets_in_gaps: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
    pub invalid: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    last: CounterSnapshot,
    /// Highest `packetsLost` seen in the current segment.
    lost_high_water: Option<i64>,
}

/// Turns snapshots into intervals, per stats id.
///
/// Ids are only unique within one PeerConnection, so use one tracker per PeerConnection.
#[derive(Debug, Clone, Default)]
pub struct CounterTracker {
    config: TrackerConfig,
    entries: HashMap<String, Entry>,
    stats: TrackerStats,
}

impl CounterTracker {
    #[must_use]
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            stats: TrackerStats::default(),
        }
    }

    #[must_use]
    pub fn config(&self) -> TrackerConfig {
        self.config
    }

    #[must_use]
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Number of stats ids with a baseline.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets a stats object that getStats no longer reports (rtcstats' `null` = deleted), so
    /// that state does not grow with every SSRC a long call ever used.
    pub fn remove(&mut self, stats_id: &str) -> bool {
        self.entries.remove(stats_id).is_some()
    }

    /// Feeds one snapshot.
    pub fn push(&mut self, snapshot: CounterSnapshot) -> Update {
        self.stats.snapshots += 1;
        let cur = snapshot.sanitized();
        if !cur.timestamp_ms.is_finite() {
            self.stats.invalid += 1;
            return Update::Ignored(IgnoreCause::InvalidTimestamp);
        }
        let Some(entry) = self.entries.get_mut(&cur.stats_id) else {
            self.stats.baselines += 1;
            let lost_high_water = cur.packets_lost;
            self.entries.insert(
                cur.stats_id.clone(),
                Entry {
                    last: cur,
                    lost_high_water,
                },
            );
            return Update::Baseline;
        };
        let prev = &entry.last;
        let dt = cur.timestamp_ms - prev.timestamp_ms;
        if dt < 0.0 {
            self.stats.out_of_order += 1;
            return Update::Ignored(IgnoreCause::OutOfOrder);
        }
        if dt == 0.0 {
            self.stats.duplicates += 1;
            return Update::Ignored(IgnoreCause::Duplicate);
        }

        let identity_change = if cur.ssrc != prev.ssrc {
            Some(ResetCause::SsrcChanged)
        } else if cur.kind != prev.kind || cur.media != prev.media {
            Some(ResetCause::KindChanged)
        } else {
            None
        };
        if let Some(cause) = identity_change {
            self.stats.resets += 1;
            entry.lost_high_water = cur.packets_lost;
            entry.last = cur;
            return Update::Reset(cause);
        }

        let decreased = cur.decreased_counter(prev);
        if dt > self.config.max_gap_ms {
            // The gap wins over a reset hidden in it: coverage needs to know the time is
            // missing either way, and no delta is taken across a gap.
            self.stats.gaps += 1;
            self.stats.intervals += 1;
            if decreased.is_some() {
                self.stats.resets_in_gaps += 1;
            }
            let interval = Interval::empty(prev, &cur, true);
            entry.lost_high_water = if decreased.is_some() {
                cur.packets_lost
            } else {
                max_opt(entry.lost_high_water, cur.packets_lost)
            };
            entry.last = cur;
            return Update::Interval(interval);
        }
        if let Some(counter) = decreased {
            self.stats.resets += 1;
            entry.lost_high_water = cur.packets_lost;
            entry.last = cur;
            return Update::Reset(ResetCause::CounterDecreased(counter));
        }

        let (interval, high_water) = difference(prev, &cur, entry.lost_high_water);
        entry.lost_high_water = high_water;
        entry.last = cur;
        self.stats.intervals += 1;
        Update::Interval(interval)
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => b.or(a),
    }
}

fn du(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    b?.checked_sub(a?)
}

fn df(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let d = b? - a?;
    (d >= 0.0).then_some(d)
}

/// Metrics between two snapshots already known to be ordered, close enough and reset-free.
/// Returns the interval and the new `packetsLost` high-water mark.
fn difference(
    prev: &CounterSnapshot,
    cur: &CounterSnapshot,
    lost_high_water: Option<i64>,
) -> (Interval, Option<i64>) {
    let mut iv = Interval::empty(prev, cur, false);
    let dt_s = iv.duration_ms / 1000.0;

    iv.packets_received = du(prev.packets_received, cur.packets_received);
    iv.packets_sent = du(prev.packets_sent, cur.packets_sent);
    iv.packets_lost = match (lost_high_water, cur.packets_lost) {
        (Some(hw), Some(lost)) => Some(u64::try_from(lost.saturating_sub(hw)).unwrap_or(0)),
        _ => None,
    };
    let high_water = max_opt(lost_high_water, cur.packets_lost);
    if let (Some(r), Some(l)) = (iv.packets_received, iv.packets_lost) {
        iv.packets_expected = Some(r.saturating_add(l));
        iv.loss_pct = loss_pct(r, l);
    } else {
        // remote-inbound-rtp often has no packetsReceived (Chrome); the receiver's own
        // fraction is the reference's fallback, never packetsSent of the local sender.
        iv.loss_pct = cur.fraction_lost.map(|f| 100.0 * f);
    }

    iv.bytes = if cur.kind.is_receive_side() {
        du(prev.bytes_received, cur.bytes_received)
    } else {
        du(prev.bytes_sent, cur.bytes_sent)
    };
    iv.bitrate_bps = iv.bytes.map(|b| 8.0 * b as f64 / dt_s);

    iv.jitter_ms = cur.jitter_s.map(|s| 1000.0 * s);
    iv.rtt_ms = match (
        df(prev.total_round_trip_time_s, cur.total_round_trip_time_s),
        du(
            prev.round_trip_time_measurements,
            cur.round_trip_time_measurements,
        ),
    ) {
        (Some(total), Some(n)) if n > 0 => Some(1000.0 * total / n as f64),
        _ => cur.round_trip_time_s.map(|s| 1000.0 * s),
    };
    iv.jitter_buffer_delay_ms = match (
        df(prev.jitter_buffer_delay_s, cur.jitter_buffer_delay_s),
        du(
            prev.jitter_buffer_emitted_count,
            cur.jitter_buffer_emitted_count,
        ),
    ) {
        (Some(delay), Some(n)) if n > 0 => Some(1000.0 * delay / n as f64),
        _ => None,
    };

    // The frame-counter delta covers the whole interval; the framesPerSecond gauge only the
    // last second, so it is the fallback.
    let frames = if cur.kind.is_receive_side() {
        du(prev.frames_decoded, cur.frames_decoded)
    } else {
        du(prev.frames_encoded, cur.frames_encoded)
    };
    iv.fps = frames.map(|f| f as f64 / dt_s).or(cur.frames_per_second);
    iv.frame_width = cur.frame_width;
    iv.frame_height = cur.frame_height;
    iv.frames_dropped = du(prev.frames_dropped, cur.frames_dropped);
    iv.freeze_count = du(prev.freeze_count, cur.freeze_count);
    iv.freeze_ms = df(prev.total_freezes_duration_s, cur.total_freezes_duration_s)
        .map(|s| (1000.0 * s).min(iv.duration_ms));

    if let (Some(concealed), Some(total)) = (
        du(prev.concealed_samples, cur.concealed_samples),
        du(prev.total_samples_received, cur.total_samples_received),
    ) {
        let silent = du(prev.silent_concealed_samples, cur.silent_concealed_samples).unwrap_or(0);
        if total > 0 {
            let audible = concealed.saturating_sub(silent);
            iv.concealment_pct = Some((100.0 * audible as f64 / total as f64).min(100.0));
        }
    }
    (iv, high_water)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    fn inbound(ts: f64, recv: u64, lost: i64, bytes: u64) -> CounterSnapshot {
        CounterSnapshot {
            ssrc: Some(1),
            packets_received: Some(recv),
            packets_lost: Some(lost),
            bytes_received: Some(bytes),
            ..CounterSnapshot::new("IT01A1", TrackKind::InboundRtp, Media::Audio, ts)
        }
    }

    fn interval(u: Update) -> Interval {
        match u {
            Update::Interval(iv) => iv,
            other => panic!("expected an interval, got {other:?}"),
        }
    }

    #[test]
    fn first_snapshot_is_the_baseline() {
        let mut t = CounterTracker::default();
        assert_eq!(t.push(inbound(0.0, 0, 0, 0)), Update::Baseline);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn interval_metrics_from_deltas() {
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(1_000.0, 1_000, 10, 100_000));
        // 10 s later: +490 received, +10 lost, +62 500 bytes.
        let iv = interval(t.push(inbound(11_000.0, 1_490, 20, 162_500)));
        assert_eq!(iv.duration_ms, 10_000.0);
        assert_eq!(iv.packets_received, Some(490));
        assert_eq!(iv.packets_lost, Some(10));
        assert_eq!(iv.packets_expected, Some(500));
        // 10 / 500 = 2 %.
        assert!(close(iv.loss_pct.unwrap(), 2.0));
        // 8 · 62 500 B / 10 s = 50 000 bit/s.
        assert!(close(iv.bitrate_bps.unwrap(), 50_000.0));
        assert!(!iv.gap);
    }

    #[test]
    fn rtt_from_totals_and_gauge_fallback() {
        let mut t = CounterTracker::default();
        let base = CounterSnapshot {
            total_round_trip_time_s: Some(1.0),
            round_trip_time_measurements: Some(10),
            round_trip_time_s: Some(0.05),
            ..CounterSnapshot::new("RIA1", TrackKind::RemoteInboundRtp, Media::Audio, 0.0)
        };
        let _ = t.push(base.clone());
        // +0.6 s over +4 measurements = 150 ms.
        let iv = interval(t.push(CounterSnapshot {
            total_round_trip_time_s: Some(1.6),
            round_trip_time_measurements: Some(14),
            timestamp_ms: 5_000.0,
            ..base.clone()
        }));
        assert!(close(iv.rtt_ms.unwrap(), 150.0));
        // No new RTCP report: the latest gauge (50 ms) stands in.
        let iv = interval(t.push(CounterSnapshot {
            total_round_trip_time_s: Some(1.6),
            round_trip_time_measurements: Some(14),
            timestamp_ms: 10_000.0,
            ..base
        }));
        assert!(close(iv.rtt_ms.unwrap(), 50.0));
    }

    #[test]
    fn remote_inbound_loss_falls_back_to_fraction_lost() {
        let mut t = CounterTracker::default();
        let base = CounterSnapshot {
            packets_lost: Some(3),
            fraction_lost: Some(0.0),
            ..CounterSnapshot::new("RIV1", TrackKind::RemoteInboundRtp, Media::Video, 0.0)
        };
        let _ = t.push(base.clone());
        let iv = interval(t.push(CounterSnapshot {
            packets_lost: Some(9),
            fraction_lost: Some(0.25),
            timestamp_ms: 5_000.0,
            ..base
        }));
        assert_eq!(iv.packets_lost, Some(6));
        assert_eq!(iv.packets_expected, None);
        assert!(close(iv.loss_pct.unwrap(), 25.0));
    }

    #[test]
    fn video_and_audio_gauges_and_ratios() {
        let mut t = CounterTracker::default();
        let v0 = CounterSnapshot {
            frames_decoded: Some(0),
            total_freezes_duration_s: Some(0.0),
            freeze_count: Some(0),
            frame_width: Some(640),
            frame_height: Some(360),
            jitter_buffer_delay_s: Some(0.0),
            jitter_buffer_emitted_count: Some(0),
            ..CounterSnapshot::new("IT01V1", TrackKind::InboundRtp, Media::Video, 0.0)
        };
        let _ = t.push(v0.clone());
        let iv = interval(t.push(CounterSnapshot {
            frames_decoded: Some(250),
            total_freezes_duration_s: Some(1.5),
            freeze_count: Some(2),
            frame_width: Some(1280),
            frame_height: Some(720),
            // 12.5 s of buffering over 250 frames = 50 ms each.
            jitter_buffer_delay_s: Some(12.5),
            jitter_buffer_emitted_count: Some(250),
            timestamp_ms: 10_000.0,
            ..v0
        }));
        // 250 frames / 10 s.
        assert!(close(iv.fps.unwrap(), 25.0));
        assert_eq!((iv.frame_width, iv.frame_height), (Some(1280), Some(720)));
        assert!(close(iv.freeze_ms.unwrap(), 1_500.0));
        assert!(close(iv.freeze_pct().unwrap(), 15.0));
        assert_eq!(iv.freeze_count, Some(2));
        assert!(close(iv.jitter_buffer_delay_ms.unwrap(), 50.0));

        let a0 = CounterSnapshot {
            concealed_samples: Some(1_000),
            silent_concealed_samples: Some(500),
            total_samples_received: Some(100_000),
            ..CounterSnapshot::new("IT01A2", TrackKind::InboundRtp, Media::Audio, 0.0)
        };
        let _ = t.push(a0.clone());
        let iv = interval(t.push(CounterSnapshot {
            concealed_samples: Some(10_600),
            silent_concealed_samples: Some(600),
            total_samples_received: Some(580_000),
            timestamp_ms: 10_000.0,
            ..a0
        }));
        // (9 600 − 100) / 480 000 = 1.979 166… %.
        assert!(close(
            iv.concealment_pct.unwrap(),
            100.0 * 9_500.0 / 480_000.0
        ));
    }

    #[test]
    fn outbound_uses_sent_counters() {
        let mut t = CounterTracker::default();
        let o0 = CounterSnapshot {
            packets_sent: Some(100),
            bytes_sent: Some(10_000),
            frames_encoded: Some(30),
            ..CounterSnapshot::new("OT01V1", TrackKind::OutboundRtp, Media::Video, 0.0)
        };
        let _ = t.push(o0.clone());
        let iv = interval(t.push(CounterSnapshot {
            packets_sent: Some(400),
            bytes_sent: Some(260_000),
            frames_encoded: Some(90),
            timestamp_ms: 2_000.0,
            ..o0
        }));
        assert_eq!(iv.packets_sent, Some(300));
        assert_eq!(iv.loss_pct, None);
        // 8 · 250 000 / 2 s = 1 Mbit/s; 60 frames / 2 s.
        assert!(close(iv.bitrate_bps.unwrap(), 1_000_000.0));
        assert!(close(iv.fps.unwrap(), 30.0));
    }

    #[test]
    fn zero_packets_means_no_loss_value() {
        assert_eq!(loss_pct(0, 0), None);
        assert_eq!(loss_pct(0, 5), Some(100.0));
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(0.0, 10, 1, 100));
        let iv = interval(t.push(inbound(1_000.0, 10, 1, 100)));
        assert_eq!(iv.packets_expected, Some(0));
        assert_eq!(iv.loss_pct, None);
        assert_eq!(iv.bitrate_bps, Some(0.0));
    }

    #[test]
    fn decreasing_packets_lost_is_not_a_reset_and_is_not_counted_twice() {
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(0.0, 100, 0, 0));
        let iv = interval(t.push(inbound(1_000.0, 190, 10, 0)));
        assert_eq!(iv.packets_lost, Some(10));
        // Late duplicates bring packetsLost down to 5.
        let iv = interval(t.push(inbound(2_000.0, 295, 5, 0)));
        assert_eq!(iv.packets_lost, Some(0));
        assert_eq!(iv.loss_pct, Some(0.0));
        // Back up to 12: only the 2 above the high-water mark of 10 are new.
        let iv = interval(t.push(inbound(3_000.0, 393, 12, 0)));
        assert_eq!(iv.packets_lost, Some(2));
        assert_eq!(t.stats().resets, 0);
    }

    #[test]
    fn counter_going_backwards_resets_without_emitting() {
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(0.0, 1_000, 0, 50_000));
        assert_eq!(
            t.push(inbound(1_000.0, 20, 0, 1_000)),
            Update::Reset(ResetCause::CounterDecreased("packetsReceived"))
        );
        // The reset snapshot is the new baseline.
        let iv = interval(t.push(inbound(2_000.0, 120, 0, 2_000)));
        assert_eq!(iv.packets_received, Some(100));
        assert_eq!(iv.start_ms, 1_000.0);
        assert_eq!(t.stats().resets, 1);
    }

    #[test]
    fn ssrc_change_resets() {
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(0.0, 1_000, 0, 0));
        let other = CounterSnapshot {
            ssrc: Some(2),
            ..inbound(1_000.0, 2_000, 0, 0)
        };
        assert_eq!(t.push(other), Update::Reset(ResetCause::SsrcChanged));
        let iv = interval(t.push(CounterSnapshot {
            ssrc: Some(2),
            ..inbound(2_000.0, 2_050, 0, 0)
        }));
        assert_eq!(iv.packets_received, Some(50));
        assert_eq!(iv.ssrc, Some(2));
    }

    #[test]
    fn long_spacing_is_a_gap_without_metrics() {
        let mut t = CounterTracker::new(TrackerConfig::from_sample_period(1_000.0));
        let _ = t.push(inbound(0.0, 0, 0, 0));
        let iv = interval(t.push(inbound(3_500.0, 300, 3, 3_000)));
        assert!(iv.gap);
        assert_eq!(
            (iv.start_ms, iv.end_ms, iv.duration_ms),
            (0.0, 3_500.0, 3_500.0)
        );
        assert_eq!(iv.packets_received, None);
        assert_eq!(iv.loss_pct, None);
        assert_eq!(iv.bitrate_bps, None);
        // Exactly 3 periods is still differenced, from the gap's end.
        let iv = interval(t.push(inbound(6_500.0, 600, 3, 6_000)));
        assert!(!iv.gap);
        assert_eq!(iv.packets_received, Some(300));
        assert_eq!(t.stats().gaps, 1);
    }

    #[test]
    fn out_of_order_and_duplicates_are_ignored_and_counted() {
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(1_000.0, 100, 0, 0));
        assert_eq!(
            t.push(inbound(500.0, 50, 0, 0)),
            Update::Ignored(IgnoreCause::OutOfOrder)
        );
        assert_eq!(
            t.push(inbound(1_000.0, 100, 0, 0)),
            Update::Ignored(IgnoreCause::Duplicate)
        );
        assert_eq!(
            t.push(inbound(f64::NAN, 100, 0, 0)),
            Update::Ignored(IgnoreCause::InvalidTimestamp)
        );
        let iv = interval(t.push(inbound(2_000.0, 150, 0, 0)));
        assert_eq!(iv.packets_received, Some(50));
        let s = t.stats();
        assert_eq!((s.out_of_order, s.duplicates, s.invalid), (1, 1, 1));
        assert_eq!(s.snapshots, 5);
    }

    #[test]
    fn removed_ids_start_over() {
        let mut t = CounterTracker::default();
        let _ = t.push(inbound(0.0, 0, 0, 0));
        assert!(t.remove("IT01A1"));
        assert!(t.is_empty());
        assert_eq!(t.push(inbound(1_000.0, 10, 0, 0)), Update::Baseline);
    }

    #[test]
    fn simulcast_layers_are_summed() {
        let mut t = CounterTracker::default();
        let layer = |id: &str, ts: f64, sent: u64, bytes: u64, h: u32| CounterSnapshot {
            packets_sent: Some(sent),
            bytes_sent: Some(bytes),
            frame_height: Some(h),
            frame_width: Some(h * 16 / 9),
            frames_per_second: Some(30.0),
            ..CounterSnapshot::new(id, TrackKind::OutboundRtp, Media::Video, ts)
        };
        let _ = t.push(layer("q", 0.0, 0, 0, 180));
        let _ = t.push(layer("f", 0.0, 0, 0, 720));
        let q = interval(t.push(layer("q", 1_000.0, 20, 25_000, 180)));
        let f = interval(t.push(layer("f", 1_000.0, 150, 187_500, 720)));
        let c = combine_layers(&[q, f]).unwrap();
        assert_eq!(c.packets_sent, Some(170));
        // 8 · (25 000 + 187 500) B / 1 s.
        assert!(close(c.bitrate_bps.unwrap(), 1_700_000.0));
        assert_eq!(c.frame_height, Some(720));
        assert_eq!(combine_layers(&[]), None);
    }

    fn arb_snapshot() -> impl Strategy<Value = CounterSnapshot> {
        let counter = || proptest::option::weighted(0.9, 0u64..2_000);
        let seconds =
            || proptest::option::weighted(0.9, prop_oneof![0.0f64..100.0, Just(f64::NAN)]);
        (
            (
                prop::sample::select(vec!["a", "b"]),
                prop::option::of(1u32..3),
                -5_000.0f64..100_000.0,
            ),
            (
                counter(),
                counter(),
                proptest::option::weighted(0.9, -50i64..2_000),
                counter(),
            ),
            (seconds(), seconds(), counter(), seconds(), counter()),
            (
                counter(),
                seconds(),
                counter(),
                counter(),
                counter(),
                proptest::option::of(0.0f64..1.5),
            ),
        )
            .prop_map(
                |(
                    (id, ssrc, ts),
                    (recv, sent, lost, bytes),
                    (jit, trt, meas, jbd, emitted),
                    (fd, frz, conc, silent, total, fl),
                )| {
                    CounterSnapshot {
                        ssrc,
                        packets_received: recv,
                        packets_sent: sent,
                        packets_lost: lost,
                        bytes_received: bytes,
                        bytes_sent: bytes,
                        jitter_s: jit,
                        total_round_trip_time_s: trt,
                        round_trip_time_measurements: meas,
                        jitter_buffer_delay_s: jbd,
                        jitter_buffer_emitted_count: emitted,
                        frames_decoded: fd,
                        total_freezes_duration_s: frz,
                        concealed_samples: conc,
                        silent_concealed_samples: silent,
                        total_samples_received: total,
                        fraction_lost: fl,
                        ..CounterSnapshot::new(id, TrackKind::InboundRtp, Media::Audio, ts)
                    }
                },
            )
    }

    fn nonneg(v: Option<f64>) -> bool {
        v.is_none_or(|x| x.is_finite() && x >= 0.0)
    }

    proptest! {
        /// Whatever the order, resets, gaps and garbage: every emitted value is a finite,
        /// non-negative delta, loss stays within 0..=100 and intervals move forward in time.
        #[test]
        fn deltas_are_never_negative(snaps in prop::collection::vec(arb_snapshot(), 0..60), gap in 1.0f64..50_000.0) {
            let mut t = CounterTracker::new(TrackerConfig { max_gap_ms: gap });
            let mut last_end: HashMap<String, f64> = HashMap::new();
            for s in snaps {
                if let Update::Interval(iv) = t.push(s) {
                    prop_assert!(iv.duration_ms > 0.0);
                    prop_assert!(iv.end_ms > iv.start_ms);
                    prop_assert!(iv.gap == (iv.duration_ms > gap));
                    if let Some(prev_end) = last_end.insert(iv.stats_id.clone(), iv.end_ms) {
                        prop_assert!(iv.start_ms >= prev_end);
                    }
                    prop_assert!(iv.loss_pct.is_none_or(|l| (0.0..=100.0).contains(&l)));
                    prop_assert!(iv.concealment_pct.is_none_or(|c| (0.0..=100.0).contains(&c)));
                    prop_assert!(iv.freeze_pct().is_none_or(|c| (0.0..=100.0).contains(&c)));
                    for v in [iv.bitrate_bps, iv.jitter_ms, iv.rtt_ms, iv.jitter_buffer_delay_ms, iv.fps, iv.freeze_ms] {
                        prop_assert!(nonneg(v));
                    }
                    if let (Some(e), Some(r), Some(l)) = (iv.packets_expected, iv.packets_received, iv.packets_lost) {
                        prop_assert_eq!(e, r + l);
                    }
                }
            }
            let s = t.stats();
            // Every snapshot has exactly one fate.
            prop_assert_eq!(s.snapshots, s.baselines + s.intervals + s.resets + s.out_of_order + s.duplicates + s.invalid);
        }

        /// Within one segment the interval deltas add up to the difference of the end points:
        /// nothing is lost or counted twice.
        #[test]
        fn deltas_add_up_within_a_segment(steps in prop::collection::vec((1u64..500, 0u64..20, 1.0f64..10_000.0), 1..40)) {
            let mut t = CounterTracker::default();
            let (mut recv, mut lost, mut ts) = (0u64, 0i64, 0.0f64);
            let _ = t.push(inbound(ts, recv, lost, 0));
            let (mut sum_recv, mut sum_lost) = (0u64, 0u64);
            for (r, l, dt) in steps {
                recv += r;
                lost += i64::try_from(l).unwrap();
                ts += dt;
                let iv = interval(t.push(inbound(ts, recv, lost, recv * 100)));
                sum_recv += iv.packets_received.unwrap();
                sum_lost += iv.packets_lost.unwrap();
            }
            prop_assert_eq!(sum_recv, recv);
            prop_assert_eq!(i64::try_from(sum_lost).unwrap(), lost);
        }
    }
}

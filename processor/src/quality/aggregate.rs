//! Mergeable, time-weighted aggregates of intervals.
//!
//! Every field is a sum, a minimum or a maximum, so aggregating parts and merging them gives
//! the one-pass result (up to float rounding) in any grouping: per track, then per user, then
//! per conference, or across processor restarts. Means are weighted by interval duration, and
//! each metric carries its own weight, because an interval without a value (no packets, no
//! RTCP report) must not count as a zero.

use serde::{Deserialize, Serialize};

use super::bands::{Band, Score};
use super::counters::Interval;

/// Score histogram bins per score point (bin width 0.1).
pub const HISTOGRAM_BINS_PER_POINT: f64 = 10.0;
/// Bins covering scores 1..5.
pub const HISTOGRAM_BINS: usize = 40;

/// Time-weighted sum, minimum and maximum of one metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricAcc {
    /// Total duration of the intervals that had a value.
    pub weight_ms: f64,
    /// Σ value · duration.
    pub weighted_sum: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl MetricAcc {
    fn add(&mut self, value: Option<f64>, weight_ms: f64) {
        let Some(v) = value.filter(|v| v.is_finite()) else {
            return;
        };
        self.weight_ms += weight_ms;
        self.weighted_sum += v * weight_ms;
        self.min = min_opt(self.min, Some(v));
        self.max = max_opt(self.max, Some(v));
    }

    fn merge(&mut self, other: &Self) {
        self.weight_ms += other.weight_ms;
        self.weighted_sum += other.weighted_sum;
        self.min = min_opt(self.min, other.min);
        self.max = max_opt(self.max, other.max);
    }

    /// Time-weighted mean; `None` without any value.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        (self.weight_ms > 0.0).then(|| self.weighted_sum / self.weight_ms)
    }
}

/// A duration (or a share) per band.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BandTimes {
    pub excellent: f64,
    pub good: f64,
    pub fair: f64,
    pub poor: f64,
    pub bad: f64,
}

impl BandTimes {
    #[must_use]
    pub fn get(&self, band: Band) -> f64 {
        match band {
            Band::Excellent => self.excellent,
            Band::Good => self.good,
            Band::Fair => self.fair,
            Band::Poor => self.poor,
            Band::Bad => self.bad,
        }
    }

    fn slot(&mut self, band: Band) -> &mut f64 {
        match band {
            Band::Excellent => &mut self.excellent,
            Band::Good => &mut self.good,
            Band::Fair => &mut self.fair,
            Band::Poor => &mut self.poor,
            Band::Bad => &mut self.bad,
        }
    }

    #[must_use]
    pub fn total(&self) -> f64 {
        Band::ALL.iter().map(|b| self.get(*b)).sum()
    }
}

/// Time per resolution class, as rtcstats-server reports it: HD ≥ 720 lines, SD ≥ 360, LD below.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolutionTimes {
    pub hd_ms: f64,
    pub sd_ms: f64,
    pub ld_ms: f64,
}

/// The lowest-scoring interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorstInterval {
    pub start_ms: f64,
    pub end_ms: f64,
    pub score: Score,
    pub band: Band,
}

impl WorstInterval {
    /// Total order: lower score first, then earlier start, then earlier end, so that which one
    /// is kept never depends on the merge order.
    fn is_worse_than(&self, other: &Self) -> bool {
        self.score
            .value()
            .total_cmp(&other.score.value())
            .then(self.start_ms.total_cmp(&other.start_ms))
            .then(self.end_ms.total_cmp(&other.end_ms))
            .is_lt()
    }
}

/// Ranges a [`Coverage`] keeps at most. Past that, the two nearest ranges are joined and the
/// gap between them counts as covered: memory stays bounded whatever the gaps.
pub const COVERAGE_RANGES: usize = 256;

/// The time covered by a set of intervals, each instant counted once: sorted, disjoint
/// `[start, end)` ranges in ms, joined where they overlap or touch. One track's intervals follow
/// each other and stay one range; audio and video of the same user, or two receivers of the
/// same stream, overlap and are not counted twice. The union is a minimum and maximum of
/// bounds, so merging parts gives the one-pass result exactly, in any order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage(Vec<(f64, f64)>);

impl Coverage {
    /// Adds `[start, end)`; an empty, reversed or non-finite range adds nothing.
    pub fn add(&mut self, start: f64, end: f64) {
        if !(start.is_finite() && end.is_finite() && end > start) {
            return;
        }
        // Ranges `first..last` overlap or touch the new one: their ends reach its start and
        // their starts do not pass its end.
        let first = self.0.partition_point(|&(_, e)| e < start);
        let last = first + self.0[first..].partition_point(|&(s, _)| s <= end);
        if first == last {
            self.0.insert(first, (start, end));
        } else {
            let joined = (self.0[first].0.min(start), self.0[last - 1].1.max(end));
            self.0.splice(first..last, [joined]);
        }
        if self.0.len() > COVERAGE_RANGES {
            self.join_nearest();
        }
    }

    fn join_nearest(&mut self) {
        let nearest = self
            .0
            .windows(2)
            .enumerate()
            .min_by(|(_, a), (_, b)| (a[1].0 - a[0].1).total_cmp(&(b[1].0 - b[0].1)))
            .map(|(at, _)| at);
        if let Some(at) = nearest {
            self.0[at].1 = self.0[at + 1].1;
            self.0.remove(at + 1);
        }
    }

    /// Folds `other` in: the union of both.
    pub fn merge(&mut self, other: &Self) {
        for &(start, end) in &other.0 {
            self.add(start, end);
        }
    }

    /// Time covered, ms.
    #[must_use]
    pub fn total_ms(&self) -> f64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// The disjoint ranges, in order.
    #[must_use]
    pub fn ranges(&self) -> &[(f64, f64)] {
        &self.0
    }
}

/// Time-weighted quality aggregate over any set of intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Duration of the intervals with metrics (gaps excluded), summed: two intervals over the
    /// same time count twice. [`Aggregate::coverage`] counts that time once.
    pub weight_ms: f64,
    /// The time the intervals with metrics cover.
    #[serde(default)]
    pub coverage: Coverage,
    pub gap_ms: f64,
    pub intervals: u64,
    pub gaps: u64,
    /// Intervals refused because their duration was not a positive finite number.
    pub rejected: u64,
    pub first_start_ms: Option<f64>,
    pub last_end_ms: Option<f64>,

    pub packets_expected: u64,
    pub packets_lost: u64,
    pub bytes: u64,
    pub freeze_count: u64,
    pub freeze_ms: f64,

    pub loss_pct: MetricAcc,
    pub rtt_ms: MetricAcc,
    pub jitter_ms: MetricAcc,
    pub jitter_buffer_delay_ms: MetricAcc,
    pub bitrate_bps: MetricAcc,
    pub fps: MetricAcc,
    pub frame_height: MetricAcc,
    pub freeze_pct: MetricAcc,
    pub concealment_pct: MetricAcc,
    pub score: MetricAcc,

    /// Scored time per band.
    pub band_ms: BandTimes,
    /// Interval time without a score.
    pub unscored_ms: f64,
    pub resolution: ResolutionTimes,
    /// Scored time per 0.1-wide score bin from 1.0 ([`HISTOGRAM_BINS`] bins), for percentiles.
    pub score_histogram_ms: Vec<f64>,
    pub worst: Option<WorstInterval>,
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            weight_ms: 0.0,
            coverage: Coverage::default(),
            gap_ms: 0.0,
            intervals: 0,
            gaps: 0,
            rejected: 0,
            first_start_ms: None,
            last_end_ms: None,
            packets_expected: 0,
            packets_lost: 0,
            bytes: 0,
            freeze_count: 0,
            freeze_ms: 0.0,
            loss_pct: MetricAcc::default(),
            rtt_ms: MetricAcc::default(),
            jitter_ms: MetricAcc::default(),
            jitter_buffer_delay_ms: MetricAcc::default(),
            bitrate_bps: MetricAcc::default(),
            fps: MetricAcc::default(),
            frame_height: MetricAcc::default(),
            freeze_pct: MetricAcc::default(),
            concealment_pct: MetricAcc::default(),
            score: MetricAcc::default(),
            band_ms: BandTimes::default(),
            unscored_ms: 0.0,
            resolution: ResolutionTimes::default(),
            score_histogram_ms: vec![0.0; HISTOGRAM_BINS],
            worst: None,
        }
    }
}

/// Time-weighted means of an aggregate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Means {
    pub loss_pct: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub jitter_buffer_delay_ms: Option<f64>,
    pub bitrate_bps: Option<f64>,
    pub fps: Option<f64>,
    pub frame_height: Option<f64>,
    pub freeze_pct: Option<f64>,
    pub concealment_pct: Option<f64>,
    pub score: Option<f64>,
}

fn histogram_bin(score: f64) -> usize {
    // Multiplying rather than dividing by 0.1 keeps 3.5 in bin 25, not 24.999….
    let bin = ((score - 1.0) * HISTOGRAM_BINS_PER_POINT).floor();
    if bin.is_nan() || bin < 0.0 {
        0
    } else {
        // Float-to-int `as` saturates, and the bound keeps 5.0 in the last bin.
        (bin as usize).min(HISTOGRAM_BINS - 1)
    }
}

impl Aggregate {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one interval with its score, if it has one. Gaps only add to `gap_ms`.
    pub fn add(&mut self, interval: &Interval, score: Option<Score>) {
        let w = interval.duration_ms;
        if !(w.is_finite() && w > 0.0) {
            self.rejected += 1;
            return;
        }
        self.first_start_ms = min_opt(self.first_start_ms, Some(interval.start_ms));
        self.last_end_ms = max_opt(self.last_end_ms, Some(interval.end_ms));
        if interval.gap {
            self.gaps += 1;
            self.gap_ms += w;
            return;
        }
        self.intervals += 1;
        self.weight_ms += w;
        self.coverage.add(interval.start_ms, interval.end_ms);

        self.packets_expected = self
            .packets_expected
            .saturating_add(interval.packets_expected.unwrap_or(0));
        // Lost packets count only where expected is known, so lost ≤ expected holds.
        if interval.packets_expected.is_some() {
            self.packets_lost = self
                .packets_lost
                .saturating_add(interval.packets_lost.unwrap_or(0));
        }
        self.bytes = self.bytes.saturating_add(interval.bytes.unwrap_or(0));
        self.freeze_count = self
            .freeze_count
            .saturating_add(interval.freeze_count.unwrap_or(0));
        self.freeze_ms += interval.freeze_ms.filter(|f| f.is_finite()).unwrap_or(0.0);

        self.loss_pct.add(interval.loss_pct, w);
        self.rtt_ms.add(interval.rtt_ms, w);
        self.jitter_ms.add(interval.jitter_ms, w);
        self.jitter_buffer_delay_ms
            .add(interval.jitter_buffer_delay_ms, w);
        self.bitrate_bps.add(interval.bitrate_bps, w);
        self.fps.add(interval.fps, w);
        self.frame_height
            .add(interval.frame_height.map(f64::from), w);
        self.freeze_pct.add(interval.freeze_pct(), w);
        self.concealment_pct.add(interval.concealment_pct, w);

        if let Some(h) = interval.frame_height {
            let slot = match h {
                720.. => &mut self.resolution.hd_ms,
                360.. => &mut self.resolution.sd_ms,
                _ => &mut self.resolution.ld_ms,
            };
            *slot += w;
        }

        match score.filter(|s| s.value().is_finite()) {
            Some(s) => {
                let band = s.band();
                self.score.add(Some(s.value()), w);
                *self.band_ms.slot(band) += w;
                if let Some(bin) = self.score_histogram_ms.get_mut(histogram_bin(s.value())) {
                    *bin += w;
                }
                let candidate = WorstInterval {
                    start_ms: interval.start_ms,
                    end_ms: interval.end_ms,
                    score: s,
                    band,
                };
                if self.worst.is_none_or(|w| candidate.is_worse_than(&w)) {
                    self.worst = Some(candidate);
                }
            }
            None => self.unscored_ms += w,
        }
    }

    /// Folds `other` in; the result is the aggregate of both sets of intervals.
    pub fn merge(&mut self, other: &Self) {
        self.weight_ms += other.weight_ms;
        self.coverage.merge(&other.coverage);
        self.gap_ms += other.gap_ms;
        self.intervals += other.intervals;
        self.gaps += other.gaps;
        self.rejected += other.rejected;
        self.first_start_ms = min_opt(self.first_start_ms, other.first_start_ms);
        self.last_end_ms = max_opt(self.last_end_ms, other.last_end_ms);
        self.packets_expected = self.packets_expected.saturating_add(other.packets_expected);
        self.packets_lost = self.packets_lost.saturating_add(other.packets_lost);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.freeze_count = self.freeze_count.saturating_add(other.freeze_count);
        self.freeze_ms += other.freeze_ms;
        self.loss_pct.merge(&other.loss_pct);
        self.rtt_ms.merge(&other.rtt_ms);
        self.jitter_ms.merge(&other.jitter_ms);
        self.jitter_buffer_delay_ms
            .merge(&other.jitter_buffer_delay_ms);
        self.bitrate_bps.merge(&other.bitrate_bps);
        self.fps.merge(&other.fps);
        self.frame_height.merge(&other.frame_height);
        self.freeze_pct.merge(&other.freeze_pct);
        self.concealment_pct.merge(&other.concealment_pct);
        self.score.merge(&other.score);
        for band in Band::ALL {
            *self.band_ms.slot(band) += other.band_ms.get(band);
        }
        self.unscored_ms += other.unscored_ms;
        self.resolution.hd_ms += other.resolution.hd_ms;
        self.resolution.sd_ms += other.resolution.sd_ms;
        self.resolution.ld_ms += other.resolution.ld_ms;
        // A deserialized aggregate might carry a different bin count; never drop time.
        if self.score_histogram_ms.len() < other.score_histogram_ms.len() {
            self.score_histogram_ms
                .resize(other.score_histogram_ms.len(), 0.0);
        }
        for (mine, theirs) in self
            .score_histogram_ms
            .iter_mut()
            .zip(&other.score_histogram_ms)
        {
            *mine += theirs;
        }
        if let Some(theirs) = other.worst
            && self.worst.is_none_or(|mine| theirs.is_worse_than(&mine))
        {
            self.worst = Some(theirs);
        }
    }

    /// Time-weighted means of every metric.
    #[must_use]
    pub fn mean(&self) -> Means {
        Means {
            loss_pct: self.loss_pct.mean(),
            rtt_ms: self.rtt_ms.mean(),
            jitter_ms: self.jitter_ms.mean(),
            jitter_buffer_delay_ms: self.jitter_buffer_delay_ms.mean(),
            bitrate_bps: self.bitrate_bps.mean(),
            fps: self.fps.mean(),
            frame_height: self.frame_height.mean(),
            freeze_pct: self.freeze_pct.mean(),
            concealment_pct: self.concealment_pct.mean(),
            score: self.score.mean(),
        }
    }

    /// Loss over all packets (Σlost / Σexpected), which unlike the mean of per-interval
    /// percentages weights busy intervals more. `None` when no packet was expected.
    #[must_use]
    pub fn overall_loss_pct(&self) -> Option<f64> {
        super::counters::loss_pct(
            self.packets_expected.saturating_sub(self.packets_lost),
            self.packets_lost,
        )
    }

    /// Share of scored time in each band (summing to 1); `None` without scored time.
    #[must_use]
    pub fn share_per_band(&self) -> Option<BandTimes> {
        let total = self.band_ms.total();
        (total > 0.0).then(|| BandTimes {
            excellent: self.band_ms.excellent / total,
            good: self.band_ms.good / total,
            fair: self.band_ms.fair / total,
            poor: self.band_ms.poor / total,
            bad: self.band_ms.bad / total,
        })
    }

    /// Share of scored time in `band` or a worse one.
    #[must_use]
    pub fn share_at_or_below(&self, band: Band) -> Option<f64> {
        let total = self.band_ms.total();
        (total > 0.0).then(|| {
            Band::ALL
                .iter()
                .filter(|b| **b >= band)
                .map(|b| self.band_ms.get(*b))
                .sum::<f64>()
                / total
        })
    }

    /// Approximate score percentile (`p` in 0..=1, e.g. 0.1 for the p10) from the histogram,
    /// interpolated linearly inside a bin, so accurate to the bin width (0.1).
    #[must_use]
    pub fn score_percentile(&self, p: f64) -> Option<f64> {
        let total: f64 = self.score_histogram_ms.iter().sum();
        if !(total > 0.0 && p.is_finite()) {
            return None;
        }
        let target = p.clamp(0.0, 1.0) * total;
        let mut below = 0.0;
        for (i, ms) in self.score_histogram_ms.iter().enumerate() {
            if *ms > 0.0 && below + ms >= target {
                let within = ((target - below) / ms).clamp(0.0, 1.0);
                return Some(1.0 + (i as f64 + within) / HISTOGRAM_BINS_PER_POINT);
            }
            below += ms;
        }
        Some(1.0 + self.score_histogram_ms.len() as f64 / HISTOGRAM_BINS_PER_POINT)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::quality::counters::{Media, TrackKind};

    fn iv(start: f64, end: f64) -> Interval {
        Interval::new("t", TrackKind::InboundRtp, Media::Audio, start, end)
    }

    #[test]
    fn time_weighted_means_and_bands() {
        let mut a = Aggregate::new();
        // 10 s at 1 % loss, MOS 4.4 (excellent); 30 s at 5 % loss, MOS 3.5 (poor).
        a.add(
            &Interval {
                loss_pct: Some(1.0),
                packets_expected: Some(500),
                packets_lost: Some(5),
                ..iv(0.0, 10_000.0)
            },
            Some(Score::AudioMos(4.4)),
        );
        a.add(
            &Interval {
                loss_pct: Some(5.0),
                packets_expected: Some(1_500),
                packets_lost: Some(75),
                ..iv(10_000.0, 40_000.0)
            },
            Some(Score::AudioMos(3.5)),
        );
        // A gap and an unscored interval with no loss value.
        a.add(
            &Interval {
                gap: true,
                ..iv(40_000.0, 80_000.0)
            },
            None,
        );
        a.add(&iv(80_000.0, 90_000.0), None);

        let m = a.mean();
        // (1·10 + 5·30) / 40 = 4 %
        assert!((m.loss_pct.unwrap() - 4.0).abs() < 1e-12);
        // (4.4·10 + 3.5·30) / 40 = (44 + 105)/40 = 3.725
        assert!((m.score.unwrap() - 3.725).abs() < 1e-12);
        // 80 / 2 000 = 4 %
        assert!((a.overall_loss_pct().unwrap() - 4.0).abs() < 1e-12);
        assert_eq!(a.weight_ms, 50_000.0);
        assert_eq!(a.gap_ms, 40_000.0);
        assert_eq!(a.unscored_ms, 10_000.0);
        assert_eq!(
            (a.first_start_ms, a.last_end_ms),
            (Some(0.0), Some(90_000.0))
        );
        let share = a.share_per_band().unwrap();
        assert!((share.excellent - 0.25).abs() < 1e-12);
        assert!((share.poor - 0.75).abs() < 1e-12);
        assert!((a.share_at_or_below(Band::Fair).unwrap() - 0.75).abs() < 1e-12);
        let worst = a.worst.unwrap();
        assert_eq!((worst.start_ms, worst.band), (10_000.0, Band::Poor));
        assert_eq!(a.loss_pct.max, Some(5.0));
        // p10 = 4 000 ms into the 30 000 ms of bin 25 (3.5..3.6): 1 + (25 + 4/30)·0.1 = 3.5133
        // p90 = 36 000 ms: 6 000 ms into the 10 000 ms of bin 34: 1 + 34.6·0.1 = 4.46
        assert!((a.score_percentile(0.1).unwrap() - 3.513_333).abs() < 1e-6);
        assert!((a.score_percentile(0.9).unwrap() - 4.46).abs() < 1e-9);
    }

    #[test]
    fn empty_aggregate_has_no_means() {
        let a = Aggregate::new();
        assert_eq!(a.mean(), Means::default());
        assert_eq!(a.share_per_band(), None);
        assert_eq!(a.score_percentile(0.5), None);
        assert_eq!(a.overall_loss_pct(), None);
    }

    #[test]
    fn resolution_classes_and_bad_durations() {
        let mut a = Aggregate::new();
        a.add(
            &Interval {
                frame_height: Some(720),
                ..iv(0.0, 1_000.0)
            },
            None,
        );
        a.add(
            &Interval {
                frame_height: Some(360),
                ..iv(1_000.0, 3_000.0)
            },
            None,
        );
        a.add(
            &Interval {
                frame_height: Some(180),
                ..iv(3_000.0, 6_000.0)
            },
            None,
        );
        a.add(&iv(6_000.0, 6_000.0), None);
        a.add(&iv(f64::NAN, 7_000.0), None);
        assert_eq!(
            a.resolution,
            ResolutionTimes {
                hd_ms: 1_000.0,
                sd_ms: 2_000.0,
                ld_ms: 3_000.0
            }
        );
        assert_eq!(a.rejected, 2);
        assert_eq!(a.intervals, 3);
    }

    #[test]
    fn coverage_counts_overlapping_time_once() {
        let mut c = Coverage::default();
        // Audio and video of one user over the same 10 s: 10 s, not 20.
        c.add(0.0, 10_000.0);
        c.add(0.0, 10_000.0);
        assert_eq!(c.total_ms(), 10_000.0);
        // A second receiver, offset by 5 s: the union runs to 15 s.
        c.add(5_000.0, 15_000.0);
        assert_eq!(c.ranges(), &[(0.0, 15_000.0)]);
        // The next interval of a track touches the last one: still one range.
        c.add(15_000.0, 25_000.0);
        assert_eq!(c.ranges(), &[(0.0, 25_000.0)]);
        // After a 5 s gap, a second range; then one that bridges the gap joins all three.
        c.add(30_000.0, 40_000.0);
        assert_eq!(c.ranges(), &[(0.0, 25_000.0), (30_000.0, 40_000.0)]);
        assert_eq!(c.total_ms(), 35_000.0);
        c.add(20_000.0, 32_000.0);
        assert_eq!(c.ranges(), &[(0.0, 40_000.0)]);
        // Earlier than everything, and nothing for empty, reversed or non-finite ranges.
        c.add(-10_000.0, -5_000.0);
        c.add(50.0, 50.0);
        c.add(60.0, 10.0);
        c.add(f64::NAN, 1.0);
        c.add(0.0, f64::INFINITY);
        assert_eq!(c.ranges(), &[(-10_000.0, -5_000.0), (0.0, 40_000.0)]);
        assert_eq!(c.total_ms(), 45_000.0);
    }

    #[test]
    fn coverage_stays_bounded_and_counts_joined_gaps() {
        // 300 ranges of 1 ms, 9 ms apart: the 44 past the bound are joined to a neighbour,
        // each adding its 9 ms gap: 300 + 44 · 9 = 696 ms in 256 ranges.
        let mut c = Coverage::default();
        for k in 0..300 {
            let start = f64::from(k) * 10.0;
            c.add(start, start + 1.0);
        }
        assert_eq!(c.ranges().len(), COVERAGE_RANGES);
        assert_eq!(c.total_ms(), 696.0);
    }

    #[test]
    fn aggregate_coverage_skips_gaps() {
        let mut a = Aggregate::new();
        a.add(&iv(0.0, 10_000.0), None);
        a.add(&iv(0.0, 10_000.0), None);
        a.add(
            &Interval {
                gap: true,
                ..iv(10_000.0, 20_000.0)
            },
            None,
        );
        assert_eq!((a.weight_ms, a.coverage.total_ms()), (20_000.0, 10_000.0));
    }

    fn arb_interval() -> impl Strategy<Value = (Interval, Option<Score>)> {
        let metric = |hi: f64| prop::option::weighted(0.8, 0.0f64..hi);
        (
            (0.0f64..1e6, 1.0f64..20_000.0, any::<bool>()),
            (
                metric(100.0),
                metric(2_000.0),
                metric(200.0),
                metric(5e6),
                metric(60.0),
            ),
            (
                prop::option::of(0u32..2_200),
                prop::option::of(0u64..5_000),
                prop::option::of(0u64..100),
            ),
            prop::option::weighted(0.8, (1.0f64..5.0, any::<bool>())),
        )
            .prop_map(
                |(
                    (start, dur, gap),
                    (loss, rtt, jitter, bitrate, fps),
                    (h, expected, lost),
                    score,
                )| {
                    let interval = Interval {
                        gap: gap && loss.is_none(),
                        loss_pct: loss,
                        rtt_ms: rtt,
                        jitter_ms: jitter,
                        bitrate_bps: bitrate,
                        fps,
                        frame_height: h,
                        packets_expected: expected,
                        packets_lost: lost.zip(expected).map(|(l, e)| l.min(e)),
                        freeze_ms: fps.map(|f| f * 10.0),
                        bytes: expected,
                        ..iv(start, start + dur)
                    };
                    let score = score.map(|(v, audio)| {
                        if audio {
                            Score::AudioMos(v.min(4.5))
                        } else {
                            Score::Video(v)
                        }
                    });
                    (interval, score)
                },
            )
    }

    fn aggregate(items: &[(Interval, Option<Score>)]) -> Aggregate {
        let mut a = Aggregate::new();
        for (i, s) in items {
            a.add(i, *s);
        }
        a
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    fn metric_close(a: &MetricAcc, b: &MetricAcc) -> bool {
        close(a.weight_ms, b.weight_ms)
            && close(a.weighted_sum, b.weighted_sum)
            && a.min == b.min
            && a.max == b.max
    }

    /// Equal up to float rounding of the sums; counts, extremes and the worst interval exactly.
    fn agg_close(a: &Aggregate, b: &Aggregate) -> bool {
        let metrics = [
            (&a.loss_pct, &b.loss_pct),
            (&a.rtt_ms, &b.rtt_ms),
            (&a.jitter_ms, &b.jitter_ms),
            (&a.jitter_buffer_delay_ms, &b.jitter_buffer_delay_ms),
            (&a.bitrate_bps, &b.bitrate_bps),
            (&a.fps, &b.fps),
            (&a.frame_height, &b.frame_height),
            (&a.freeze_pct, &b.freeze_pct),
            (&a.concealment_pct, &b.concealment_pct),
            (&a.score, &b.score),
        ];
        close(a.weight_ms, b.weight_ms)
            && a.coverage == b.coverage
            && close(a.gap_ms, b.gap_ms)
            && (a.intervals, a.gaps, a.rejected) == (b.intervals, b.gaps, b.rejected)
            && (a.first_start_ms, a.last_end_ms) == (b.first_start_ms, b.last_end_ms)
            && (a.packets_expected, a.packets_lost, a.bytes, a.freeze_count)
                == (b.packets_expected, b.packets_lost, b.bytes, b.freeze_count)
            && close(a.freeze_ms, b.freeze_ms)
            && metrics.iter().all(|(x, y)| metric_close(x, y))
            && Band::ALL
                .iter()
                .all(|band| close(a.band_ms.get(*band), b.band_ms.get(*band)))
            && close(a.unscored_ms, b.unscored_ms)
            && close(a.resolution.hd_ms, b.resolution.hd_ms)
            && close(a.resolution.sd_ms, b.resolution.sd_ms)
            && close(a.resolution.ld_ms, b.resolution.ld_ms)
            && a.score_histogram_ms.len() == b.score_histogram_ms.len()
            && a.score_histogram_ms
                .iter()
                .zip(&b.score_histogram_ms)
                .all(|(x, y)| close(*x, *y))
            && a.worst == b.worst
    }

    proptest! {
        /// Aggregating two halves and merging equals one pass over the whole sequence.
        #[test]
        fn merge_of_parts_equals_one_pass(items in prop::collection::vec(arb_interval(), 0..40), cut in any::<prop::sample::Index>()) {
            let k = if items.is_empty() { 0 } else { cut.index(items.len() + 1) };
            let whole = aggregate(&items);
            let mut left = aggregate(&items[..k]);
            left.merge(&aggregate(&items[k..]));
            prop_assert!(agg_close(&whole, &left), "whole {whole:?}\nmerged {left:?}");
        }

        /// (a ⊕ b) ⊕ c = a ⊕ (b ⊕ c), and the empty aggregate is neutral.
        #[test]
        fn merge_is_associative(
            a in prop::collection::vec(arb_interval(), 0..15),
            b in prop::collection::vec(arb_interval(), 0..15),
            c in prop::collection::vec(arb_interval(), 0..15),
        ) {
            let (a, b, c) = (aggregate(&a), aggregate(&b), aggregate(&c));
            let mut left = a.clone();
            left.merge(&b);
            left.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut right = a.clone();
            right.merge(&bc);
            prop_assert!(agg_close(&left, &right));
            let mut with_empty = a.clone();
            with_empty.merge(&Aggregate::new());
            prop_assert_eq!(&with_empty, &a);
        }

        /// Merge order does not matter either (per-user aggregates arrive in any order).
        #[test]
        fn merge_is_commutative(a in prop::collection::vec(arb_interval(), 0..15), b in prop::collection::vec(arb_interval(), 0..15)) {
            let (a, b) = (aggregate(&a), aggregate(&b));
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert!(agg_close(&ab, &ba));
        }

        #[test]
        fn shares_sum_to_one(items in prop::collection::vec(arb_interval(), 1..30)) {
            let a = aggregate(&items);
            if let Some(s) = a.share_per_band() {
                prop_assert!((s.total() - 1.0).abs() < 1e-9);
            }
            prop_assert!(a.packets_lost <= a.packets_expected);
            if let Some(l) = a.overall_loss_pct() {
                prop_assert!((0.0..=100.0).contains(&l));
            }
        }
    }
}

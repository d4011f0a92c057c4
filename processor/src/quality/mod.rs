//! Call-quality computation: pure functions and state machines with no I/O, so every rule can
//! be unit- and property-tested. The stateful processor feeds them decoded events and stats.
//!
//! - [`counters`]: cumulative getStats counters → per-interval metrics, with reset, gap and
//!   ordering rules;
//! - [`emos`]: audio MOS by the ITU-T G.107 E-model;
//! - [`video`]: a 1..5 video score;
//! - [`bands`]: excellent / good / fair / poor / bad;
//! - [`aggregate`]: mergeable time-weighted aggregates;
//! - [`setup`]: establishment time, outcome and failure category of a PeerConnection.
//!
//! Formulas, thresholds and their sources: `docs/quality.md`.

pub mod aggregate;
pub mod bands;
pub mod counters;
pub mod emos;
pub mod setup;
pub mod video;

pub use aggregate::{
    Aggregate, BandTimes, Coverage, Means, MetricAcc, ResolutionTimes, WorstInterval,
};
pub use bands::{Band, Score, audio_band, video_band};
pub use counters::{
    CounterSnapshot, CounterTracker, IgnoreCause, Interval, Media, ResetCause, TrackKind,
    TrackerConfig, TrackerStats, Update, combine_layers,
};
pub use emos::{AudioInputs, CodecImpairment, DelayModel, Emos, emos, r_to_mos};
pub use setup::{
    FabricTimeline, FailureCategory, FailureReason, IceState, IceTransition, Outcome,
    ReportedDelays, ReportedError, SetupBreakdown, SetupFailure, SetupOutcome, WebRtcFunction,
    evaluate,
};
pub use video::{VideoCodec, VideoInputs, VideoScore, video_score};

/// Scores one interval on its media's scale: E-model MOS for audio (Opus defaults), the video
/// score for video. `rtt_ms` overrides the interval's own RTT, because inbound-rtp carries none
/// and the caller takes it from the candidate pair or remote-outbound-rtp. `None` for gaps and
/// for video intervals lacking bitrate, frame rate or size.
#[must_use]
pub fn score_interval(interval: &Interval, rtt_ms: Option<f64>) -> Option<Score> {
    match interval.media {
        Media::Audio => {
            let mut inputs = AudioInputs::from_interval(interval)?;
            inputs.rtt_ms = rtt_ms.or(inputs.rtt_ms);
            Some(Score::AudioMos(emos(&inputs).mos))
        }
        Media::Video => {
            let mut inputs = VideoInputs::from_interval(interval)?;
            if let Some(rtt) = rtt_ms {
                inputs.delay_ms = Some(rtt / 2.0 + interval.jitter_buffer_delay_ms.unwrap_or(0.0));
            }
            video_score(&inputs).map(|s| Score::Video(s.score))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_from_snapshots_to_aggregate() {
        let mut tracker = CounterTracker::default();
        let snap = |ts: f64, recv: u64, lost: i64, jb: f64, emitted: u64| CounterSnapshot {
            ssrc: Some(7),
            packets_received: Some(recv),
            packets_lost: Some(lost),
            bytes_received: Some(recv * 100),
            jitter_s: Some(0.01),
            jitter_buffer_delay_s: Some(jb),
            jitter_buffer_emitted_count: Some(emitted),
            ..CounterSnapshot::new("IT01A7", TrackKind::InboundRtp, Media::Audio, ts)
        };
        let mut agg = Aggregate::new();
        let _ = tracker.push(snap(0.0, 0, 0, 0.0, 0));
        // 10 s: 500 packets, none lost; 40 ms per emitted sample (48 000 samples·0.04 s = 1 920 s).
        let Update::Interval(iv) = tracker.push(snap(10_000.0, 500, 0, 19_200.0, 480_000)) else {
            panic!("no interval");
        };
        let score = score_interval(&iv, Some(20.0));
        // d = 10 + 40 + 20 = 70 ms → R 91.52 → MOS 4.374436 (see emos tests).
        let Some(Score::AudioMos(mos)) = score else {
            panic!("no score")
        };
        assert!((mos - 4.374_436).abs() < 1e-6);
        agg.add(&iv, score);
        assert_eq!(agg.share_per_band().map(|s| s.excellent), Some(1.0));
    }

    #[test]
    fn gaps_are_not_scored() {
        let gap = Interval {
            gap: true,
            ..Interval::new("x", TrackKind::InboundRtp, Media::Video, 0.0, 40_000.0)
        };
        assert_eq!(score_interval(&gap, Some(10.0)), None);
    }
}

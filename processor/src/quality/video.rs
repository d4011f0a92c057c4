//! A video quality score on a 1..5 scale.
//!
//! callstats' own video metric (Objective Quality) was never published, so the score is
//! assembled from published open-source models (docs/quality.md, "Video"):
//!
//! 1. content, rtcscore (ggarber/rtcscore `src/rtc_mos.js`):
//!    `clamp(0.56·ln(k·bitrate / pixels / fps) + 5.36, 1, 5) − 1.9·ln(fpsExpected/fps) − 0.002·delay`,
//!    k = 1.2 for VP9, pixels of the rendering size when known;
//! 2. network, LiveKit's packet score for video (`100 − 10·loss%`, loss weight 10 for any video
//!    codec) mapped linearly from 0..100 onto 1..5; the score is the minimum of 1 and 2, as LiveKit
//!    takes the minimum of its partial scores;
//! 3. freezes, our addition: frozen time is worth the bottom of the scale, so the score is
//!    blended towards 1 by the frozen share of the interval.

use serde::{Deserialize, Serialize};

use super::counters::Interval;

/// Video codec, for rtcscore's efficiency factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    #[default]
    Vp8,
    Vp9,
    H264,
    Av1,
    Other,
}

impl VideoCodec {
    /// From a codec `mimeType` such as `video/VP9` (case-insensitive).
    #[must_use]
    pub fn from_mime_type(mime: &str) -> Self {
        let name = mime.rsplit('/').next().unwrap_or(mime).to_ascii_lowercase();
        match name.as_str() {
            "vp8" => Self::Vp8,
            "vp9" => Self::Vp9,
            "h264" => Self::H264,
            "av1" => Self::Av1,
            _ => Self::Other,
        }
    }

    /// rtcscore's bits-per-pixel factor: VP9 gets 1.2, everything else 1. AV1 stays at 1
    /// because the source gives no value for it.
    #[must_use]
    pub const fn efficiency_factor(self) -> f64 {
        match self {
            Self::Vp9 => 1.2,
            _ => 1.0,
        }
    }
}

/// Inputs of one video score, typically one interval of one video stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoInputs {
    pub bitrate_bps: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Size of the rendering element; rtcscore charges the bits against it, so upscaling a
    /// small picture costs. Falls back to the received size.
    pub expected_width: Option<u32>,
    pub expected_height: Option<u32>,
    pub fps: Option<f64>,
    /// Frame rate of the source (e.g. the sender's media-source `framesPerSecond`). Without
    /// it a low frame rate is not charged, since 5 fps may be a screen share's normal.
    pub expected_fps: Option<f64>,
    pub codec: VideoCodec,
    pub loss_pct: Option<f64>,
    pub freeze_ms: Option<f64>,
    pub duration_ms: f64,
    /// One-way delay: `rtt/2 + jitter-buffer delay`, as rtcscore.
    pub delay_ms: Option<f64>,
}

impl VideoInputs {
    /// Bitrate, size, frame rate, loss and freezes of an interval. `None` for a gap.
    #[must_use]
    pub fn from_interval(interval: &Interval) -> Option<Self> {
        (!interval.gap).then(|| Self {
            bitrate_bps: interval.bitrate_bps,
            width: interval.frame_width,
            height: interval.frame_height,
            fps: interval.fps,
            loss_pct: interval.loss_pct,
            freeze_ms: interval.freeze_ms,
            duration_ms: interval.duration_ms,
            delay_ms: interval
                .rtt_ms
                .map(|rtt| rtt / 2.0 + interval.jitter_buffer_delay_ms.unwrap_or(0.0)),
            ..Self::default()
        })
    }
}

/// The score with its parts, so it can be explained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VideoScore {
    /// Final score, 1..5.
    pub score: f64,
    /// rtcscore's content term (bits per pixel per frame, frame rate, delay).
    pub content: f64,
    /// Loss cap, 1..5.
    pub network: f64,
    /// Frozen share of the interval, 0..1.
    pub freeze_share: f64,
}

fn finite_nonneg(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

/// Scores one interval; `None` when bitrate, frame rate or picture size is unknown.
#[must_use]
pub fn video_score(inputs: &VideoInputs) -> Option<VideoScore> {
    let bitrate = finite_nonneg(inputs.bitrate_bps)?;
    let fps = finite_nonneg(inputs.fps)?;
    let (w, h) = match (inputs.expected_width, inputs.expected_height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => (inputs.width?, inputs.height?),
    };
    let pixels = f64::from(w) * f64::from(h);

    let content = if bitrate <= 0.0 || fps <= 0.0 || pixels <= 0.0 {
        // Nothing decoded or nothing sent: there is no picture to judge.
        1.0
    } else {
        let bpppf = inputs.codec.efficiency_factor() * bitrate / pixels / fps;
        let base = (0.56 * bpppf.ln() + 5.36).clamp(1.0, 5.0);
        // Only a shortfall is charged: more frames than the source has cannot look better.
        let fps_penalty = finite_nonneg(inputs.expected_fps)
            .filter(|e| *e > fps)
            .map_or(0.0, |e| 1.9 * (e / fps).ln());
        let delay_penalty = 0.002 * finite_nonneg(inputs.delay_ms).unwrap_or(0.0);
        (base - fps_penalty - delay_penalty).clamp(1.0, 5.0)
    };

    let loss = finite_nonneg(inputs.loss_pct).unwrap_or(0.0).min(100.0);
    let network = 1.0 + 4.0 * (100.0 - 10.0 * loss).clamp(0.0, 100.0) / 100.0;

    let freeze_share = match finite_nonneg(inputs.freeze_ms) {
        Some(f) if inputs.duration_ms > 0.0 => (f / inputs.duration_ms).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let raw = content.min(network).clamp(1.0, 5.0);
    let score = 1.0 + (raw - 1.0) * (1.0 - freeze_share);
    Some(VideoScore {
        score,
        content,
        network,
        freeze_share,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn approx(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} is not within {tol} of {b}");
    }

    fn hd(bitrate: f64, fps: f64) -> VideoInputs {
        VideoInputs {
            bitrate_bps: Some(bitrate),
            width: Some(1280),
            height: Some(720),
            fps: Some(fps),
            loss_pct: Some(0.0),
            freeze_ms: Some(0.0),
            duration_ms: 10_000.0,
            ..VideoInputs::default()
        }
    }

    #[test]
    fn hd_at_1_5_mbps() {
        let s = video_score(&hd(1_500_000.0, 30.0)).unwrap();
        // bPPPF = 1 500 000 / (1280·720) / 30 = 0.0542535; ln = −2.914088
        // content = 0.56·(−2.914088) + 5.36 = −1.631889 + 5.36 = 3.728111
        approx(s.content, 3.728_111, 1e-6);
        approx(s.network, 5.0, 0.0);
        approx(s.score, 3.728_111, 1e-6);
    }

    #[test]
    fn vp9_is_credited() {
        let s = video_score(&VideoInputs {
            codec: VideoCodec::Vp9,
            ..hd(1_500_000.0, 30.0)
        })
        .unwrap();
        // 0.56·ln(1.2·0.0542535) + 5.36 = 0.56·(−2.731767) + 5.36 = 3.830211
        approx(s.score, 3.830_211, 1e-6);
    }

    #[test]
    fn frame_rate_shortfall() {
        let s = video_score(&VideoInputs {
            expected_fps: Some(30.0),
            ..hd(300_000.0, 15.0)
        })
        .unwrap();
        // bPPPF = 300 000 / 921 600 / 15 = 0.0217014; 0.56·ln(·) + 5.36 = 0.56·(−3.830379) + 5.36 = 3.214988
        // − 1.9·ln(30/15) = − 1.316980 → 1.898008
        approx(s.score, 1.898_008, 1e-6);
        // Without the source frame rate nothing is charged.
        approx(
            video_score(&hd(300_000.0, 15.0)).unwrap().score,
            3.214_988,
            1e-6,
        );
    }

    #[test]
    fn upscaling_is_charged_against_the_render_size() {
        let small = VideoInputs {
            width: Some(640),
            height: Some(360),
            ..hd(500_000.0, 30.0)
        };
        // 500 000 / (640·360) / 30 = 0.0723380; 0.56·(−2.626406) + 5.36 = 3.889213
        approx(video_score(&small).unwrap().score, 3.889_213, 1e-6);
        // Shown at 1280×720: 500 000 / 921 600 / 30 = 0.0180845; 0.56·(−4.012701) + 5.36 = 3.112888
        let shown_large = VideoInputs {
            expected_width: Some(1280),
            expected_height: Some(720),
            ..small
        };
        approx(video_score(&shown_large).unwrap().score, 3.112_888, 1e-6);
    }

    #[test]
    fn loss_caps_the_score() {
        // 2 %: network = 1 + 4·(100 − 20)/100 = 4.2 > 3.728, no effect.
        let s = video_score(&VideoInputs {
            loss_pct: Some(2.0),
            ..hd(1_500_000.0, 30.0)
        })
        .unwrap();
        approx(s.network, 4.2, 1e-12);
        approx(s.score, 3.728_111, 1e-6);
        // 8 %: network = 1 + 4·20/100 = 1.8 < 3.728.
        let s = video_score(&VideoInputs {
            loss_pct: Some(8.0),
            ..hd(1_500_000.0, 30.0)
        })
        .unwrap();
        approx(s.score, 1.8, 1e-12);
        // 10 % and more: the bottom.
        let s = video_score(&VideoInputs {
            loss_pct: Some(15.0),
            ..hd(1_500_000.0, 30.0)
        })
        .unwrap();
        approx(s.score, 1.0, 0.0);
    }

    #[test]
    fn freezes_pull_towards_one() {
        // 2.5 s frozen of 10 s: 1 + (3.728111 − 1)·0.75 = 3.046083
        let s = video_score(&VideoInputs {
            freeze_ms: Some(2_500.0),
            ..hd(1_500_000.0, 30.0)
        })
        .unwrap();
        approx(s.freeze_share, 0.25, 0.0);
        approx(s.score, 3.046_083, 1e-6);
    }

    #[test]
    fn delay_costs_0_002_per_ms() {
        let s = video_score(&VideoInputs {
            delay_ms: Some(100.0),
            ..hd(1_500_000.0, 30.0)
        })
        .unwrap();
        // 3.728111 − 0.2
        approx(s.score, 3.528_111, 1e-6);
    }

    #[test]
    fn nothing_shown_scores_one_and_unknowns_score_nothing() {
        approx(video_score(&hd(0.0, 0.0)).unwrap().score, 1.0, 0.0);
        assert_eq!(
            video_score(&VideoInputs {
                bitrate_bps: None,
                ..hd(1.0, 30.0)
            }),
            None
        );
        assert_eq!(
            video_score(&VideoInputs {
                width: None,
                ..hd(1.0, 30.0)
            }),
            None
        );
    }

    #[test]
    fn codec_from_mime() {
        assert_eq!(VideoCodec::from_mime_type("video/VP9"), VideoCodec::Vp9);
        assert_eq!(VideoCodec::from_mime_type("video/H264"), VideoCodec::H264);
        assert_eq!(VideoCodec::from_mime_type("video/rtx"), VideoCodec::Other);
    }

    proptest! {
        #[test]
        fn score_within_scale(
            bitrate in prop::option::of(0.0f64..1e8), fps in prop::option::of(0.0f64..120.0),
            w in 0u32..4_000, h in 0u32..3_000, loss in prop::option::of(-1.0f64..200.0),
            freeze in prop::option::of(0.0f64..20_000.0), expected in prop::option::of(0.0f64..120.0),
            delay in prop::option::of(0.0f64..5_000.0),
        ) {
            let inputs = VideoInputs {
                bitrate_bps: bitrate, fps, width: Some(w), height: Some(h), loss_pct: loss,
                freeze_ms: freeze, expected_fps: expected, delay_ms: delay, duration_ms: 10_000.0,
                ..VideoInputs::default()
            };
            if let Some(s) = video_score(&inputs) {
                prop_assert!((1.0..=5.0).contains(&s.score), "{s:?}");
            }
        }
    }
}

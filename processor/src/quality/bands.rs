//! Quality bands for audio MOS and the video score.
//!
//! Five bands, named as callstats' `qualityRating` and the schemas' `QualityBand`.
//! Audio: the G.107 R categories (≥ 90 very satisfied, 80–90 satisfied, 70–80 some users
//! dissatisfied, 60–70 many dissatisfied, < 60 nearly all dissatisfied) carried over to MOS
//! through the Annex B cubic, which is increasing over this range, so a band by MOS is exactly
//! the band by R. Video: the five-grade ACR scale (5 excellent … 1 bad), a score falling in
//! the band of the grade it rounds to. docs/quality.md, "Bands".

use serde::{Deserialize, Serialize};

/// A quality band, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Excellent,
    Good,
    Fair,
    Poor,
    Bad,
}

impl Band {
    /// Every band, best first; [`Band::index`] is the position in this list.
    pub const ALL: [Band; 5] = [
        Band::Excellent,
        Band::Good,
        Band::Fair,
        Band::Poor,
        Band::Bad,
    ];

    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Band::Excellent => 0,
            Band::Good => 1,
            Band::Fair => 2,
            Band::Poor => 3,
            Band::Bad => 4,
        }
    }

    /// Same spelling as `callscope_schemas::enums::QualityBand`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Band::Excellent => "excellent",
            Band::Good => "good",
            Band::Fair => "fair",
            Band::Poor => "poor",
            Band::Bad => "bad",
        }
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lowest MOS of each audio band above `Bad`: the Annex B MOS of R = 90, 80, 70, 60
/// (1 + 0.035R + 7·10⁻⁶·R(R−60)(100−R)).
pub const AUDIO_MOS_THRESHOLDS: [f64; 4] = [4.339, 4.024, 3.597, 3.1];

/// Lowest video score of each band above `Bad`: half-way between ACR grades.
pub const VIDEO_SCORE_THRESHOLDS: [f64; 4] = [4.5, 3.5, 2.5, 1.5];

fn band_for(value: f64, thresholds: &[f64; 4]) -> Band {
    // NaN compares false everywhere and so lands in Bad, where an unknown score belongs.
    thresholds
        .iter()
        .position(|t| value >= *t)
        .and_then(|i| Band::ALL.get(i).copied())
        .unwrap_or(Band::Bad)
}

/// Band of an audio MOS.
#[must_use]
pub fn audio_band(mos: f64) -> Band {
    band_for(mos, &AUDIO_MOS_THRESHOLDS)
}

/// Band of a video score (1..5).
#[must_use]
pub fn video_band(score: f64) -> Band {
    band_for(score, &VIDEO_SCORE_THRESHOLDS)
}

/// A score of one interval, tagged with its scale so its band is unambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scale", content = "value", rename_all = "snake_case")]
pub enum Score {
    /// E-model MOS, 1..4.5.
    AudioMos(f64),
    /// Video score, 1..5.
    Video(f64),
}

impl Score {
    #[must_use]
    pub const fn value(self) -> f64 {
        match self {
            Score::AudioMos(v) | Score::Video(v) => v,
        }
    }

    #[must_use]
    pub fn band(self) -> Band {
        match self {
            Score::AudioMos(v) => audio_band(v),
            Score::Video(v) => video_band(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::emos::r_to_mos;

    #[test]
    fn audio_thresholds_are_the_r_categories() {
        for (r, t) in [90.0, 80.0, 70.0, 60.0]
            .into_iter()
            .zip(AUDIO_MOS_THRESHOLDS)
        {
            assert!(
                (r_to_mos(r) - t).abs() < 1e-12,
                "R {r}: {} vs {t}",
                r_to_mos(r)
            );
        }
        assert_eq!(audio_band(r_to_mos(93.2)), Band::Excellent);
        assert_eq!(audio_band(r_to_mos(85.0)), Band::Good);
        assert_eq!(audio_band(r_to_mos(75.0)), Band::Fair);
        assert_eq!(audio_band(r_to_mos(65.0)), Band::Poor);
        assert_eq!(audio_band(r_to_mos(50.0)), Band::Bad);
        // Boundaries belong to the better band.
        assert_eq!(audio_band(4.024), Band::Good);
        assert_eq!(audio_band(4.023_9), Band::Fair);
        assert_eq!(audio_band(f64::NAN), Band::Bad);
    }

    #[test]
    fn video_bands_round_to_acr_grades() {
        assert_eq!(video_band(5.0), Band::Excellent);
        assert_eq!(video_band(4.49), Band::Good);
        assert_eq!(video_band(3.5), Band::Good);
        assert_eq!(video_band(2.5), Band::Fair);
        assert_eq!(video_band(1.5), Band::Poor);
        assert_eq!(video_band(1.0), Band::Bad);
    }

    #[test]
    fn score_bands_follow_their_scale() {
        // 3.0 is below the audio floor of Poor (3.1) but above the video floor of Fair (2.5).
        assert_eq!(Score::AudioMos(3.0).band(), Band::Bad);
        assert_eq!(Score::Video(3.0).band(), Band::Fair);
        assert_eq!(Score::AudioMos(4.2).band(), Band::Good);
        assert_eq!(Score::Video(4.2).value(), 4.2);
        for (i, b) in Band::ALL.iter().enumerate() {
            assert_eq!(b.index(), i);
        }
    }
}

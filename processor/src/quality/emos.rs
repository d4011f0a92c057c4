//! Audio MOS by the ITU-T G.107 E-model.
//!
//! `R = R0 − Id − Ie,eff` with R0 = 93.2 (G.107 with every default parameter), the delay
//! impairment `Id` from the one-way mouth-to-ear delay, and the loss-dependent equipment
//! impairment `Ie,eff` from the codec's `Ie`/`Bpl`. `R` becomes a MOS by G.107 Annex B.
//! Formulas, parameters and sources: docs/quality.md, "Audio".

use serde::{Deserialize, Serialize};

use super::counters::Interval;

/// R with every G.107 default parameter and no delay or loss.
pub const R0_DEFAULT: f64 = 93.2;

/// Packetization and codec delay added to the network path; rtcscore and the reference's
/// recommendation both assume 20 ms (one Opus frame).
pub const CODEC_DELAY_MS: f64 = 20.0;

/// G.107 Annex B: MOS (conversational quality, 1..4.5) from the rating factor R.
///
/// The cubic dips slightly below 1 for 0 < R < 6.5, so the result is clamped to `[1, 4.5]`.
/// A NaN R gives 1.
#[must_use]
pub fn r_to_mos(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        return 1.0;
    }
    if r >= 100.0 {
        return 4.5;
    }
    (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6).clamp(1.0, 4.5)
}

/// How `Id` is computed from the one-way delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DelayModel {
    /// Cole & Rosenbluth's fit of G.107: `Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)`.
    /// The reference recommends it; it charges every millisecond, not only those above 100.
    #[default]
    ColeRosenbluth,
    /// G.107's `Idd` term alone (`Idte` and `Idle` taken as 0, i.e. perfect echo control):
    /// 0 up to 100 ms, then `25·[(1+X⁶)^⅙ − 3·(1+(X/3)⁶)^⅙ + 2]` with `X = log2(Ta/100)`.
    G107Idd,
}

/// Delay impairment `Id` for a one-way mouth-to-ear delay in ms (negative or NaN → 0 ms).
#[must_use]
pub fn delay_impairment(one_way_delay_ms: f64, model: DelayModel) -> f64 {
    let d = if one_way_delay_ms.is_finite() {
        one_way_delay_ms.max(0.0)
    } else {
        0.0
    };
    match model {
        DelayModel::ColeRosenbluth => {
            let over = if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
            0.024 * d + over
        }
        DelayModel::G107Idd => {
            if d <= 100.0 {
                return 0.0;
            }
            let x = (d / 100.0).log2();
            25.0 * ((1.0 + x.powi(6)).powf(1.0 / 6.0)
                - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(1.0 / 6.0)
                + 2.0)
        }
    }
}

/// G.107 effective equipment impairment:
/// `Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl)`, Ppl in percent (clamped to 0..=100),
/// BurstR ≥ 1 (1 = random loss).
#[must_use]
pub fn effective_equipment_impairment(
    codec: CodecImpairment,
    loss_pct: f64,
    burst_ratio: f64,
) -> f64 {
    let ppl = if loss_pct.is_finite() {
        loss_pct.clamp(0.0, 100.0)
    } else {
        0.0
    };
    let burst = if burst_ratio.is_finite() {
        burst_ratio.max(1.0)
    } else {
        1.0
    };
    let denominator = ppl / burst + codec.bpl;
    if denominator <= 0.0 {
        return codec.ie;
    }
    codec.ie + (95.0 - codec.ie) * ppl / denominator
}

/// A codec's G.113 equipment impairment `Ie` and packet-loss robustness `Bpl`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CodecImpairment {
    pub ie: f64,
    pub bpl: f64,
}

impl CodecImpairment {
    /// G.711 with packet-loss concealment (G.113 App. I).
    pub const G711_PLC: Self = Self { ie: 0.0, bpl: 25.1 };
    /// G.711 without concealment (G.113 App. I).
    pub const G711_NO_PLC: Self = Self { ie: 0.0, bpl: 4.3 };
    /// G.729A with VAD (G.113 App. I).
    pub const G729A_VAD: Self = Self {
        ie: 11.0,
        bpl: 19.0,
    };
    /// Opus: G.113 publishes no value; treated as G.711 with PLC (Ie 0, Bpl 25).
    pub const OPUS: Self = Self { ie: 0.0, bpl: 25.0 };

    /// Opus with its loss-protection options. The robustness multipliers mirror LiveKit's
    /// loss weights (Opus 8, RED 4, each ÷1.5 with FEC): ×1.5 with in-band FEC, ×2 with RED.
    #[must_use]
    pub fn opus(fec: bool, red: bool) -> Self {
        let mut bpl = Self::OPUS.bpl;
        if fec {
            bpl *= 1.5;
        }
        if red {
            bpl *= 2.0;
        }
        Self {
            ie: Self::OPUS.ie,
            bpl,
        }
    }
}

impl Default for CodecImpairment {
    fn default() -> Self {
        Self::OPUS
    }
}

/// One-way mouth-to-ear delay: `rtt/2 + jitter-buffer delay + 20 ms`.
///
/// Without a measured jitter-buffer delay, `2·jitter` stands in for it (the PingPlotter
/// simplification's allowance for buffering). Missing values count as 0 ms.
#[must_use]
pub fn mouth_to_ear_delay_ms(
    rtt_ms: Option<f64>,
    jitter_buffer_delay_ms: Option<f64>,
    jitter_ms: Option<f64>,
) -> f64 {
    let clean = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
    let buffer = clean(jitter_buffer_delay_ms)
        .or_else(|| clean(jitter_ms).map(|j| 2.0 * j))
        .unwrap_or(0.0);
    clean(rtt_ms).unwrap_or(0.0) / 2.0 + buffer + CODEC_DELAY_MS
}

/// Inputs of one audio MOS evaluation; typically one interval of one inbound audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AudioInputs {
    /// Loss in the interval; `None` (no packets expected) counts as no loss.
    pub loss_pct: Option<f64>,
    /// Round-trip time; inbound-rtp has none, so the caller supplies it from the
    /// candidate pair or remote-outbound-rtp. `None` counts as 0.
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub jitter_buffer_delay_ms: Option<f64>,
    pub codec: CodecImpairment,
    /// G.107 BurstR; 1 = random loss. getStats carries no burst metric, so 1 by default.
    pub burst_ratio: f64,
    pub delay_model: DelayModel,
}

impl Default for AudioInputs {
    fn default() -> Self {
        Self {
            loss_pct: None,
            rtt_ms: None,
            jitter_ms: None,
            jitter_buffer_delay_ms: None,
            codec: CodecImpairment::OPUS,
            burst_ratio: 1.0,
            delay_model: DelayModel::ColeRosenbluth,
        }
    }
}

impl AudioInputs {
    /// Loss, jitter, jitter-buffer delay and RTT of an interval, Opus defaults otherwise.
    /// `None` for a gap, which has nothing to score.
    #[must_use]
    pub fn from_interval(interval: &Interval) -> Option<Self> {
        (!interval.gap).then(|| Self {
            loss_pct: interval.loss_pct,
            rtt_ms: interval.rtt_ms,
            jitter_ms: interval.jitter_ms,
            jitter_buffer_delay_ms: interval.jitter_buffer_delay_ms,
            ..Self::default()
        })
    }
}

/// The E-model result with its terms, so a score can be explained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Emos {
    pub mos: f64,
    pub r: f64,
    pub delay_ms: f64,
    pub id: f64,
    pub ie_eff: f64,
}

/// Evaluates the E-model for one set of inputs.
#[must_use]
pub fn emos(inputs: &AudioInputs) -> Emos {
    let delay_ms = mouth_to_ear_delay_ms(
        inputs.rtt_ms,
        inputs.jitter_buffer_delay_ms,
        inputs.jitter_ms,
    );
    let id = delay_impairment(delay_ms, inputs.delay_model);
    let ie_eff = effective_equipment_impairment(
        inputs.codec,
        inputs.loss_pct.unwrap_or(0.0),
        inputs.burst_ratio,
    );
    let r = R0_DEFAULT - id - ie_eff;
    Emos {
        mos: r_to_mos(r),
        r,
        delay_ms,
        id,
        ie_eff,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn approx(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} is not within {tol} of {b}");
    }

    #[test]
    fn r_to_mos_reference_points() {
        // 1 + 0.035·93.2 + 93.2·33.2·6.8·7e-6 = 1 + 3.262 + 0.147286 = 4.409286
        approx(r_to_mos(93.2), 4.409_286, 1e-6);
        // R = 0 → 1; R = 100 → 1 + 3.5 + 0 = 4.5
        approx(r_to_mos(0.0), 1.0, 0.0);
        approx(r_to_mos(100.0), 4.5, 0.0);
        // 1 + 1.75 + 50·(−10)·50·7e-6 = 2.75 − 0.175 = 2.575
        approx(r_to_mos(50.0), 2.575, 1e-12);
        // 1 + 2.8 + 80·20·20·7e-6 = 3.8 + 0.224 = 4.024
        approx(r_to_mos(80.0), 4.024, 1e-12);
        // Out of range and the dip below 1 near R = 5: 1 + 0.175 − 5·55·95·7e-6 = 0.992 → 1
        approx(r_to_mos(-10.0), 1.0, 0.0);
        approx(r_to_mos(120.0), 4.5, 0.0);
        approx(r_to_mos(5.0), 1.0, 0.0);
        approx(r_to_mos(f64::NAN), 1.0, 0.0);
    }

    #[test]
    fn no_loss_20ms_rtt() {
        let e = emos(&AudioInputs {
            loss_pct: Some(0.0),
            rtt_ms: Some(20.0),
            jitter_buffer_delay_ms: Some(40.0),
            ..AudioInputs::default()
        });
        // d = 20/2 + 40 + 20 = 70 ms; Id = 0.024·70 = 1.68; Ie,eff = 0
        approx(e.delay_ms, 70.0, 1e-12);
        approx(e.id, 1.68, 1e-12);
        approx(e.ie_eff, 0.0, 1e-12);
        // R = 93.2 − 1.68 = 91.52
        approx(e.r, 91.52, 1e-9);
        // MOS = 1 + 3.2032 + 91.52·31.52·8.48·7e-6 = 4.2032 + 0.171236 = 4.374436
        approx(e.mos, 4.374_436, 1e-6);
    }

    #[test]
    fn five_percent_loss() {
        let e = emos(&AudioInputs {
            loss_pct: Some(5.0),
            rtt_ms: Some(20.0),
            jitter_buffer_delay_ms: Some(40.0),
            ..AudioInputs::default()
        });
        // Ie,eff = 0 + 95·5/(5/1 + 25) = 475/30 = 15.8333
        approx(e.ie_eff, 15.833_333, 1e-6);
        // R = 91.52 − 15.8333 = 75.6867
        approx(e.r, 75.686_667, 1e-6);
        // MOS = 1 + 2.649033 + 75.6867·15.6867·24.3133·7e-6 = 3.649033 + 0.202066 = 3.851099
        approx(e.mos, 3.851_099, 1e-6);

        // With in-band FEC Bpl = 37.5: Ie,eff = 475/42.5 = 11.1765, R = 80.3435, MOS 4.0369
        let fec = emos(&AudioInputs {
            loss_pct: Some(5.0),
            rtt_ms: Some(20.0),
            jitter_buffer_delay_ms: Some(40.0),
            codec: CodecImpairment::opus(true, false),
            ..AudioInputs::default()
        });
        approx(fec.ie_eff, 11.176_471, 1e-6);
        approx(fec.mos, 4.036_919, 1e-6);
    }

    #[test]
    fn rtt_400ms() {
        let e = emos(&AudioInputs {
            loss_pct: Some(0.0),
            rtt_ms: Some(400.0),
            jitter_buffer_delay_ms: Some(40.0),
            ..AudioInputs::default()
        });
        // d = 200 + 40 + 20 = 260; Id = 0.024·260 + 0.11·(260 − 177.3) = 6.24 + 9.097 = 15.337
        approx(e.id, 15.337, 1e-9);
        // R = 93.2 − 15.337 = 77.863; MOS = 1 + 2.725205 + 77.863·17.863·22.137·7e-6 = 3.940732
        approx(e.r, 77.863, 1e-9);
        approx(e.mos, 3.940_732, 1e-6);
    }

    #[test]
    fn g107_idd() {
        // Up to 100 ms there is no Idd.
        approx(delay_impairment(100.0, DelayModel::G107Idd), 0.0, 0.0);
        // Ta = 200: X = 1; Idd = 25·(2^⅙ − 3·(1 + 1/729)^⅙ + 2) = 25·(1.122462 − 3.000686 + 2) = 3.0444
        approx(
            delay_impairment(200.0, DelayModel::G107Idd),
            3.044_414,
            1e-6,
        );
    }

    #[test]
    fn missing_jitter_buffer_uses_twice_the_jitter() {
        // 30/2 + 2·15 + 20 = 65 ms
        approx(
            mouth_to_ear_delay_ms(Some(30.0), None, Some(15.0)),
            65.0,
            1e-12,
        );
        approx(mouth_to_ear_delay_ms(None, None, None), 20.0, 0.0);
        approx(
            mouth_to_ear_delay_ms(Some(f64::NAN), Some(-3.0), None),
            20.0,
            0.0,
        );
    }

    #[test]
    fn total_loss_is_bad() {
        // Ie,eff = 95·100/(100 + 25) = 76; R = 93.2 − 0.48 − 76 = 16.72 → MOS 1.09…
        let e = emos(&AudioInputs {
            loss_pct: Some(100.0),
            ..AudioInputs::default()
        });
        approx(e.ie_eff, 76.0, 1e-12);
        assert!(e.mos < 1.2);
    }

    proptest! {
        #[test]
        fn mos_is_bounded_and_monotone(loss in 0.0f64..100.0, extra in 0.0f64..20.0, rtt in 0.0f64..3_000.0, jb in 0.0f64..500.0) {
            let base = AudioInputs { loss_pct: Some(loss), rtt_ms: Some(rtt), jitter_buffer_delay_ms: Some(jb), ..AudioInputs::default() };
            let e = emos(&base);
            prop_assert!((1.0..=4.5).contains(&e.mos));
            let worse_loss = emos(&AudioInputs { loss_pct: Some((loss + extra).min(100.0)), ..base });
            let worse_delay = emos(&AudioInputs { rtt_ms: Some(rtt + extra * 10.0), ..base });
            prop_assert!(worse_loss.r <= e.r + 1e-9);
            prop_assert!(worse_delay.r <= e.r + 1e-9);
        }
    }
}

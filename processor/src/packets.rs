//! Packet totals of one PeerConnection, per direction, from its getStats samples.
//!
//! The cumulative RTP counters of each stream (keyed by report type and SSRC) are followed to
//! their last value and added up over the streams of the connection, as rtcstats-server's
//! `trackAggregates` do (`docs/quality.md`, conformance section):
//!
//! | total | reports |
//! |---|---|
//! | received | `inbound-rtp.packetsReceived`; legacy Chrome `ssrc` receive report (`*_recv`) |
//! | received lost | `inbound-rtp.packetsLost`, at least 0 per stream |
//! | sent | `outbound-rtp.packetsSent`; legacy `ssrc` send report (`*_send`) |
//! | sent lost | `remote-inbound-rtp.packetsLost` (the remote's report on our stream); legacy `ssrc` send report's `packetsLost` |
//!
//! Unlike the per-interval deltas of `track_quality` (which start at each stream's first sample
//! and pause over gaps), these totals include the packets counted before the first sample and
//! across gaps. A counter that goes backwards (a stream restarted under the same SSRC) banks the
//! stream's values so far and starts a new run, so nothing counted is lost. `packetsLost` alone
//! going down is not a restart (duplicates lower it).

use std::borrow::Cow;

use callscope_schemas::events::StatsReport;
use serde_json::Value;

/// Which total a stream feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    /// Our inbound stream: packets received and lost.
    Inbound,
    /// Our outbound stream: packets sent.
    Outbound,
    /// The remote's report on our outbound stream: packets lost (and, in Firefox, received).
    RemoteInbound,
}

/// The last values of one stream, plus what earlier runs of it (before a restart) counted.
#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    /// Packets received (inbound) or sent (outbound); the remote's received count (remote-inbound).
    packets: f64,
    lost: f64,
    banked_packets: f64,
    banked_lost: f64,
}

impl Stream {
    fn update(&mut self, packets: Option<f64>, lost: Option<f64>) {
        let packets = packets.filter(|v| v.is_finite() && *v >= 0.0);
        let lost = lost.filter(|v| v.is_finite());
        if packets.is_some_and(|p| p < self.packets) {
            self.banked_packets += self.packets;
            self.banked_lost += self.lost.max(0.0);
            self.packets = 0.0;
            self.lost = 0.0;
        }
        if let Some(p) = packets {
            self.packets = p;
        }
        if let Some(l) = lost {
            self.lost = l;
        }
    }

    fn packets(&self) -> f64 {
        self.banked_packets + self.packets
    }

    fn lost(&self) -> f64 {
        self.banked_lost + self.lost.max(0.0)
    }
}

/// Per-direction packet totals of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// `None` when no report of that kind was seen.
    pub received: Option<i64>,
    pub received_lost: Option<i64>,
    pub sent: Option<i64>,
    pub sent_lost: Option<i64>,
}

impl Totals {
    /// Lost out of what should have arrived: lost / (received + lost) · 100 (RFC 3550's fraction
    /// lost); `None` when nothing was expected.
    #[must_use]
    pub fn received_loss_pct(&self) -> Option<f64> {
        let lost = self.received_lost.unwrap_or(0);
        let expected = self.received?.saturating_add(lost);
        (expected > 0).then(|| 100.0 * lost as f64 / expected as f64)
    }

    /// What the remote reported lost out of what we sent: sent lost / sent · 100, at most 100;
    /// `None` when nothing was sent or no remote report came.
    #[must_use]
    pub fn sent_loss_pct(&self) -> Option<f64> {
        let sent = self.sent.filter(|s| *s > 0)?;
        let lost = self.sent_lost?;
        Some((100.0 * lost as f64 / sent as f64).min(100.0))
    }
}

/// Accumulates the streams of one connection over its samples.
#[derive(Debug, Clone, Default)]
pub struct PacketTotals {
    /// By side and SSRC (as text). A connection has a handful of streams: a list scanned
    /// without a key to allocate, where a map keyed by `(Side, String)` made two `String`s a
    /// report.
    streams: Vec<(Side, String, Stream)>,
}

/// The SSRC of a report as text: `123` and `"123"` are the same stream.
fn ssrc_key<'a>(r: &'a StatsReport, digits: &'a mut [u8; 10]) -> Option<Cow<'a, str>> {
    match r.other.get("ssrc")? {
        Value::Number(n) => Some(match n.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(v) => Cow::Borrowed(decimal(v, digits)),
            None => Cow::Owned(n.to_string()),
        }),
        Value::String(s) if !s.trim().is_empty() => Some(Cow::Borrowed(s.trim())),
        _ => None,
    }
}

/// `n` in decimal, written into `buf`, as `n.to_string()` writes it, without allocating.
pub(crate) fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

fn to_count(v: f64) -> i64 {
    // Counters are finite and non-negative here; the float → int cast saturates.
    v.round() as i64
}

impl PacketTotals {
    /// Takes one stats sample's reports (full, cumulative).
    pub fn add(&mut self, reports: &[StatsReport]) {
        for r in reports {
            let mut digits = [0u8; 10];
            let Some(ssrc) = ssrc_key(r, &mut digits) else {
                continue;
            };
            let n = |k: &str| r.number(k);
            let mut put = |side: Side, packets: Option<f64>, lost: Option<f64>| {
                let at = match self
                    .streams
                    .iter()
                    .position(|(s, k, _)| *s == side && *k == *ssrc)
                {
                    Some(at) => at,
                    None => {
                        self.streams
                            .push((side, ssrc.clone().into_owned(), Stream::default()));
                        self.streams.len() - 1
                    }
                };
                self.streams[at].2.update(packets, lost);
            };
            match r.r#type.as_str() {
                "inbound-rtp" => put(Side::Inbound, n("packetsReceived"), n("packetsLost")),
                "outbound-rtp" => put(Side::Outbound, n("packetsSent"), None),
                "remote-inbound-rtp" => {
                    put(Side::RemoteInbound, n("packetsReceived"), n("packetsLost"));
                }
                // Legacy Chrome (goog) stats: one `ssrc` report per stream and direction; the send
                // report's packetsLost is what the remote reported.
                "ssrc" => {
                    let receive = r.id.ends_with("_recv")
                        || (!r.id.ends_with("_send") && r.other.contains_key("packetsReceived"));
                    if receive {
                        put(Side::Inbound, n("packetsReceived"), n("packetsLost"));
                    } else if r.id.ends_with("_send") || r.other.contains_key("packetsSent") {
                        put(Side::Outbound, n("packetsSent"), None);
                        put(Side::RemoteInbound, None, n("packetsLost"));
                    }
                }
                _ => {}
            }
        }
    }

    /// The totals over every stream seen.
    #[must_use]
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        let add = |slot: &mut Option<i64>, v: f64| {
            *slot = Some(slot.unwrap_or(0).saturating_add(to_count(v)));
        };
        for (side, _, s) in &self.streams {
            match side {
                Side::Inbound => {
                    add(&mut t.received, s.packets());
                    add(&mut t.received_lost, s.lost());
                }
                Side::Outbound => add(&mut t.sent, s.packets()),
                Side::RemoteInbound => add(&mut t.sent_lost, s.lost()),
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report(id: &str, ty: &str, members: Value) -> StatsReport {
        let mut all = json!({"id": id, "type": ty, "timestamp": 1.0});
        if let (Some(a), Value::Object(m)) = (all.as_object_mut(), members) {
            a.extend(m);
        }
        serde_json::from_value(all).expect("a stats report")
    }

    #[test]
    fn last_values_per_stream_are_summed_per_direction() {
        let mut p = PacketTotals::default();
        assert_eq!(p.totals(), Totals::default(), "nothing seen: all unknown");
        p.add(&[
            report(
                "IA",
                "inbound-rtp",
                json!({"ssrc": 1, "kind": "audio", "packetsReceived": 100, "packetsLost": 2}),
            ),
            report(
                "IV",
                "inbound-rtp",
                json!({"ssrc": 2, "kind": "video", "packetsReceived": 300, "packetsLost": 0}),
            ),
            report(
                "OA",
                "outbound-rtp",
                json!({"ssrc": 3, "kind": "audio", "packetsSent": 50}),
            ),
            report(
                "RA",
                "remote-inbound-rtp",
                json!({"ssrc": 3, "kind": "audio", "packetsLost": 1}),
            ),
        ]);
        // Later sample: counters grow; a duplicate lowers packetsLost (not a restart).
        p.add(&[
            report(
                "IA",
                "inbound-rtp",
                json!({"ssrc": 1, "kind": "audio", "packetsReceived": 200, "packetsLost": 1}),
            ),
            report(
                "IV",
                "inbound-rtp",
                json!({"ssrc": 2, "kind": "video", "packetsReceived": 900, "packetsLost": 4}),
            ),
            report(
                "OA",
                "outbound-rtp",
                json!({"ssrc": 3, "kind": "audio", "packetsSent": 150}),
            ),
            report(
                "RA",
                "remote-inbound-rtp",
                json!({"ssrc": 3, "kind": "audio", "packetsLost": 3}),
            ),
            report("CP", "candidate-pair", json!({"packetsReceived": 5000})),
        ]);
        let t = p.totals();
        assert_eq!(
            t,
            Totals {
                received: Some(1100),
                received_lost: Some(5),
                sent: Some(150),
                sent_lost: Some(3),
            }
        );
        // 5 of 1105 expected; 3 of 150 sent.
        assert!((t.received_loss_pct().unwrap() - 100.0 * 5.0 / 1105.0).abs() < 1e-12);
        assert!((t.sent_loss_pct().unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_vanished_stream_keeps_its_last_value_and_a_restart_is_banked() {
        let mut p = PacketTotals::default();
        p.add(&[report(
            "I",
            "inbound-rtp",
            json!({"ssrc": 7, "packetsReceived": 500, "packetsLost": 10}),
        )]);
        // The stream is gone from this sample: its totals stay.
        p.add(&[]);
        assert_eq!(p.totals().received, Some(500));
        // Restarted under the same SSRC: the first run is kept, the new one added.
        p.add(&[report(
            "I",
            "inbound-rtp",
            json!({"ssrc": 7, "packetsReceived": 20, "packetsLost": 1}),
        )]);
        let t = p.totals();
        assert_eq!((t.received, t.received_lost), (Some(520), Some(11)));
        assert_eq!(t.sent, None);
        assert_eq!(t.sent_loss_pct(), None, "nothing sent");
    }

    #[test]
    fn legacy_chrome_ssrc_reports_with_string_numbers() {
        let mut p = PacketTotals::default();
        p.add(&[
            report(
                "ssrc_11_recv",
                "ssrc",
                json!({"ssrc": "11", "mediaType": "audio", "packetsReceived": "4000", "packetsLost": "8"}),
            ),
            report(
                "ssrc_22_send",
                "ssrc",
                json!({"ssrc": "22", "mediaType": "video", "packetsSent": "3900", "packetsLost": "-1"}),
            ),
        ]);
        let t = p.totals();
        assert_eq!(
            t,
            Totals {
                received: Some(4000),
                received_lost: Some(8),
                sent: Some(3900),
                // A negative remote count (Chrome reports them) adds nothing.
                sent_lost: Some(0),
            }
        );
        assert_eq!(t.sent_loss_pct(), Some(0.0));
        assert!((t.received_loss_pct().unwrap() - 800.0 / 4008.0).abs() < 1e-12);
    }
}

//! Endpoint and bridge health: system status, bridge status, bridge keep-alive.
//!
//! Numbers are `f64` throughout: the SDKs disagree on integer vs float for the same member
//! (Java floats, C# ints) and none of these values needs exact integer arithmetic.

use serde::{Deserialize, Serialize};

use super::CommonFields;

/// `.../{ucID}/system/status` (Swagger) and `/v1/apps/{appID}/stats/system` (official SDKs):
/// endpoint CPU, battery and memory, so quality drops can be told apart from overload.
///
/// The Swagger nests the values in `statusStats` (`cpuUsage`, `totalMemory`); the native SDKs
/// send them at top level as `cpuLevel` and `memoryAvailable`. Both are read; the Swagger
/// shape is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "SystemStatusWire")]
pub struct SystemStatus {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "statusStats")]
    pub status_stats: SystemStats,
}

/// `statusStats` of a system status report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemStats {
    /// CPU load, percent.
    #[serde(alias = "cpuLevel", default, skip_serializing_if = "Option::is_none")]
    pub cpu_usage: Option<f64>,
    /// Battery charge, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_level: Option<f64>,
    /// Memory in use (the SDKs report MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_usage: Option<f64>,
    /// Memory available in total (the SDKs report MB).
    #[serde(
        alias = "memoryAvailable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_memory: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_count: Option<f64>,
}

impl SystemStats {
    /// Fills each missing value from `other`.
    fn or(self, other: SystemStats) -> SystemStats {
        SystemStats {
            cpu_usage: self.cpu_usage.or(other.cpu_usage),
            battery_level: self.battery_level.or(other.battery_level),
            memory_usage: self.memory_usage.or(other.memory_usage),
            total_memory: self.total_memory.or(other.total_memory),
            thread_count: self.thread_count.or(other.thread_count),
        }
    }
}

#[derive(Deserialize)]
struct SystemStatusWire {
    #[serde(flatten)]
    common: CommonFields,
    #[serde(rename = "statusStats", default)]
    nested: Option<SystemStats>,
    #[serde(flatten)]
    flat: SystemStats,
}

impl From<SystemStatusWire> for SystemStatus {
    fn from(w: SystemStatusWire) -> Self {
        SystemStatus {
            common: w.common,
            status_stats: w.nested.unwrap_or_default().or(w.flat),
        }
    }
}

/// `/v1/apps/{appID}/stats/bridge/status` (Java bridge SDK, Jitsi Videobridge): SFU health
/// and traffic, sent every 30 s independently of any conference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeStatus {
    #[serde(flatten)]
    pub common: CommonFields,
    /// CPU load as the bridge defines it (Jitsi: 0..1 or percent, by version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_usage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_level: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_usage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_memory: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_count: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_sent_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_received_bytes: Option<f64>,
    /// Fraction (0..1) of RTP packets lost in the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_rtp_fraction_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_rtp_lost_packets: Option<f64>,
    /// Mean RTT over the interval, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_average_rtt: Option<f64>,
    /// Mean jitter over the interval, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_average_jitter: Option<f64>,
    /// kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_download_bitrate: Option<f64>,
    /// kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_upload_bitrate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_fabric_count: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_fabric_count: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_count: Option<f64>,
    /// Java spells it `participantsCount`, the C# client `participantCount`.
    #[serde(
        alias = "participantCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub participants_count: Option<f64>,
    /// Length of the measurement interval, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_interval: Option<f64>,
}

/// `/v1/apps/{appID}/stats/bridge/alive`: the bridge is up (every 30 s).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BridgeAlive {
    #[serde(flatten)]
    pub common: CommonFields,
}

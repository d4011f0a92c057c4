//! [`Members`]: the members of a stats report that have no typed field.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A member name: one that [`known`] recognizes, not copied, or any other name.
pub type MemberName = Cow<'static, str>;

/// A report's other members, sorted by name, one value per name, serialized as a JSON object.
///
/// A sorted `Vec` and not `serde_json::Map` (a `BTreeMap`): a report is read once and looked
/// up a few times, and inserting its fifteen-odd members one by one into B-tree nodes was a
/// fifth of decoding a sample (docs/benchmarks.md). Members are collected in arrival order and
/// sorted once; as in a `Map`, the last of duplicate names wins and iteration is by name.
/// Names that getStats defines ([`known`]) are not copied: a `String` for each of them was
/// most of the allocations of decoding a sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members(Vec<(MemberName, Value)>);

/// The `RTCStats` member names of the W3C webrtc-stats dictionaries and of Chrome's legacy
/// (`goog*`) stats, as clients send them.
macro_rules! known_members {
    ($($name:literal)*) => {
        /// Every name [`known`] recognizes.
        #[cfg(test)]
        const KNOWN: &[&str] = &[$($name),*];

        /// The static copy of a known member name.
        #[must_use]
        pub fn known(name: &str) -> Option<&'static str> {
            match name {
                $($name => Some($name),)*
                _ => None,
            }
        }
    };
}

known_members! {
    "payloadType" "transportId" "mimeType" "clockRate" "channels" "sdpFmtpLine" "ssrc" "kind"
    "codecId" "mediaType" "packetsReceived" "packetsLost" "jitter" "packetsDiscarded"
    "trackIdentifier" "mid" "remoteId" "framesDecoded" "keyFramesDecoded" "framesRendered"
    "framesDropped" "frameWidth" "frameHeight" "framesPerSecond" "qpSum" "totalDecodeTime"
    "totalInterFrameDelay" "totalSquaredInterFrameDelay" "pauseCount" "totalPausesDuration"
    "freezeCount" "totalFreezesDuration" "lastPacketReceivedTimestamp" "headerBytesReceived"
    "fecBytesReceived" "fecPacketsReceived" "fecPacketsDiscarded" "bytesReceived" "nackCount"
    "firCount" "pliCount" "totalProcessingDelay" "estimatedPlayoutTimestamp" "jitterBufferDelay"
    "jitterBufferTargetDelay" "jitterBufferEmittedCount" "jitterBufferMinimumDelay"
    "totalSamplesReceived" "concealedSamples" "silentConcealedSamples" "concealmentEvents"
    "insertedSamplesForDeceleration" "removedSamplesForAcceleration" "audioLevel"
    "totalAudioEnergy" "totalSamplesDuration" "framesReceived" "decoderImplementation" "playoutId"
    "powerEfficientDecoder" "framesAssembledFromMultiplePackets" "totalAssemblyTime"
    "retransmittedPacketsReceived" "retransmittedBytesReceived" "rtxSsrc" "fecSsrc" "localId"
    "roundTripTime" "totalRoundTripTime" "fractionLost" "roundTripTimeMeasurements" "packetsSent"
    "bytesSent" "mediaSourceId" "rid" "encodingIndex" "headerBytesSent" "retransmittedPacketsSent"
    "retransmittedBytesSent" "targetBitrate" "totalEncodedBytesTarget" "framesSent"
    "hugeFramesSent" "framesEncoded" "keyFramesEncoded" "totalEncodeTime" "totalPacketSendDelay"
    "qualityLimitationReason" "qualityLimitationDurations" "qualityLimitationResolutionChanges"
    "encoderImplementation" "powerEfficientEncoder" "active" "scalabilityMode" "remoteTimestamp"
    "reportsSent" "echoReturnLoss" "echoReturnLossEnhancement" "width" "height" "frames"
    "synthesizedSamplesDuration" "synthesizedSamplesEvents" "totalPlayoutDelay" "totalSamplesCount"
    "dataChannelsOpened" "dataChannelsClosed" "label" "protocol" "dataChannelIdentifier" "state"
    "messagesSent" "messagesReceived" "iceRole" "iceLocalUsernameFragment" "dtlsState" "iceState"
    "selectedCandidatePairId" "localCertificateId" "remoteCertificateId" "tlsVersion" "dtlsCipher"
    "dtlsRole" "srtpCipher" "selectedCandidatePairChanges" "rtcpTransportStatsId"
    "localCandidateId" "remoteCandidateId" "nominated" "lastPacketSentTimestamp"
    "currentRoundTripTime" "availableOutgoingBitrate" "availableIncomingBitrate" "requestsReceived"
    "requestsSent" "responsesReceived" "responsesSent" "consentRequestsSent"
    "packetsDiscardedOnSend" "bytesDiscardedOnSend" "writable" "priority" "selected" "address"
    "port" "candidateType" "url" "relayProtocol" "foundation" "relatedAddress" "relatedPort"
    "usernameFragment" "tcpType" "networkType" "ip" "isRemote" "vpn" "networkAdapterType"
    "fingerprint" "fingerprintAlgorithm" "base64Certificate" "issuerCertificateId" "remoteSource"
    "ended" "detached" "codecImplementationName" "discardedPackets" "droppedFrames" "readable"
    "rtt" "trackId" "transportType" "googTimingFrameInfo" "streamIdentifier" "trackIds"
    "googAccelerateRate" "googActiveConnection" "googActualEncBitrate" "googAdaptationChanges"
    "googAvailableReceiveBandwidth" "googAvailableSendBandwidth" "googAvgEncodeMs"
    "googBandwidthLimitedResolution" "googBucketDelay" "googCaptureStartNtpTimeMs" "googChannelId"
    "googCodecName" "googComponent" "googContentType" "googCpuLimitedResolution"
    "googCurrentDelayMs" "googDecodeMs" "googDecodingCNG" "googDecodingCTN" "googDecodingCTSG"
    "googDecodingMuted" "googDecodingNormal" "googDecodingPLC" "googDecodingPLCCNG" "googDerBase64"
    "googEchoCancellationReturnLoss" "googEchoCancellationReturnLossEnhancement"
    "googEncodeUsagePercent" "googExpandRate" "googFingerprint" "googFingerprintAlgorithm"
    "googFirsReceived" "googFirsSent" "googFirstFrameReceivedToDecodedMs" "googFrameHeightInput"
    "googFrameHeightReceived" "googFrameHeightSent" "googFrameRateDecoded" "googFrameRateInput"
    "googFrameRateOutput" "googFrameRateReceived" "googFrameRateSent" "googFrameWidthInput"
    "googFrameWidthReceived" "googFrameWidthSent" "googHasEnteredLowResolution" "googInitiator"
    "googInterframeDelayMax" "googJitterBufferMs" "googJitterReceived" "googLocalAddress"
    "googLocalCandidateType" "googMaxDecodeMs" "googMinPlayoutDelayMs" "googNacksReceived"
    "googNacksSent" "googPlisReceived" "googPlisSent" "googPreemptiveExpandRate"
    "googPreferredJitterBufferMs" "googReadable" "googRemoteAddress" "googRemoteCandidateType"
    "googRenderDelayMs" "googRetransmitBitrate" "googRtt" "googSecondaryDecodedRate"
    "googSecondaryDiscardedRate" "googSpeechExpandRate" "googTargetDelayMs" "googTargetEncBitrate"
    "googTrackId" "googTransmitBitrate" "googTransportType" "googTypingNoiseState" "googWritable"
    "audioInputLevel" "audioOutputLevel" "stunKeepaliveRequestsSent"
    "stunKeepaliveResponsesReceived" "stunKeepaliveRttSquaredTotal" "stunKeepaliveRttTotal"
}

/// A name, not copied when it is a known one.
#[must_use]
pub fn member_name(name: &str) -> MemberName {
    known(name).map_or_else(|| Cow::Owned(name.to_owned()), Cow::Borrowed)
}

/// A map key read as a [`MemberName`]: borrowed from the input when it has no escapes, so a
/// known name costs no allocation at all.
pub struct MemberKey(pub MemberName);

impl<'de> Deserialize<'de> for MemberKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = MemberKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MemberKey, E> {
                Ok(MemberKey(member_name(v)))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MemberKey, E> {
                Ok(MemberKey(
                    known(&v).map_or_else(|| Cow::Owned(v), Cow::Borrowed),
                ))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl Members {
    #[must_use]
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Members in any order: sorted by name, the last of duplicate names kept.
    #[must_use]
    pub fn from_unsorted(mut members: Vec<(MemberName, Value)>) -> Self {
        // Stable, so equal names keep their arrival order and the last can win below.
        members.sort_by(|a, b| a.0.cmp(&b.0));
        // In place: of two equal names `later` is removed, its value kept in `kept`.
        members.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Self(members)
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets a member; returns the value it replaced.
    pub fn insert(&mut self, key: &str, value: Value) -> Option<Value> {
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (member_name(key), value));
                None
            }
        }
    }

    /// Removes a member; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(entry)
    }
}

fn entry((k, v): &(MemberName, Value)) -> (&str, &Value) {
    (k.as_ref(), v)
}

impl<'a> IntoIterator for &'a Members {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (MemberName, Value)>,
        fn(&(MemberName, Value)) -> (&str, &Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(entry)
    }
}

impl FromIterator<(String, Value)> for Members {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from_unsorted(
            iter.into_iter()
                .map(|(k, v)| (known(&k).map_or_else(|| Cow::Owned(k), Cow::Borrowed), v))
                .collect(),
        )
    }
}

impl From<Map<String, Value>> for Members {
    fn from(map: Map<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Members {
    type Output = Value;

    /// Panics when the member is missing, as `Map`'s index does.
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no member {key:?}"),
        }
    }
}

impl Serialize for Members {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of stats members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some((MemberKey(k), v)) = map.next_entry::<MemberKey, Value>()? {
                    members.push((k, v));
                }
                Ok(Members::from_unsorted(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Against `serde_json::Map` as the reference: same members, same order, same JSON, the
    /// last of duplicate names kept.
    #[test]
    fn members_behave_as_a_json_map() {
        let text = r#"{"b": 1, "a": "x", "c": [1], "b": 2, "é": null, "Z": true, "b": 3}"#;
        let members: Members = serde_json::from_str(text).unwrap();
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(members.len(), 5);
        assert_eq!(members["b"], json!(3));
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            r#"{"Z":true,"a":"x","b":3,"c":[1],"é":null}"#
        );
        let keys: Vec<&str> = members.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["Z", "a", "b", "c", "é"]);
        assert_eq!(Members::from(map.clone()), members);
        assert!(members.get("d").is_none() && !members.contains_key("d"));

        let mut m = members.clone();
        assert_eq!(m.insert("d", json!(4)), None);
        assert_eq!(m.insert("a", json!("y")), Some(json!("x")));
        assert_eq!(m.remove("Z"), Some(json!(true)));
        let keys: Vec<&str> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "é"]);
        let collected: Members = vec![("q".to_owned(), json!(1)), ("p".to_owned(), json!(2))]
            .into_iter()
            .collect();
        assert_eq!(
            serde_json::to_string(&collected).unwrap(),
            r#"{"p":2,"q":1}"#
        );
    }

    /// Known names are not copied, whether the input had escapes or not; others are kept as
    /// they came. `KNOWN` has no duplicates and `known` finds every one of them.
    #[test]
    fn known_names_are_not_copied() {
        let m: Members =
            serde_json::from_str(r#"{"packetsLost": 1, "jitt\u0065r": 2, "myMetric": 3}"#).unwrap();
        let kinds: Vec<(&str, bool)> =
            m.0.iter()
                .map(|(k, _)| (k.as_ref(), matches!(k, Cow::Borrowed(_))))
                .collect();
        assert_eq!(
            kinds,
            [("jitter", true), ("myMetric", false), ("packetsLost", true)]
        );
        let mut names = KNOWN.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KNOWN.len());
        assert!(KNOWN.iter().all(|n| known(n) == Some(*n)));
        assert_eq!(known("packetslost"), None);
    }
}

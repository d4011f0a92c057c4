//! Request bodies that carry many events (the JS SDK's batch endpoint), the bus record that carries
//! them, and body decoding that names the offending field.
//!
//! A batch is written to the bus as ONE record (a JSON array of envelopes) so it is all-or-nothing:
//! a batch is either acknowledged whole or refused whole, never half-written.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::envelope::{DecodeError, Envelope, EventKind, Payload, SCHEMA_VERSION};

/// Why a request body could not be decoded: where (a JSON path such as `events[2].data.ssrc`), and what.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct BodyError {
    /// JSON path of the offending member, `.` for the whole body.
    pub path: String,
    pub reason: String,
    /// The body is not JSON at all (400), as opposed to JSON of the wrong shape (422).
    pub syntax: bool,
    #[source]
    pub source: serde_json::Error,
}

/// Deserializes `body`, keeping the path of the first member that did not fit.
pub fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    // One UTF-8 check of the whole body, then serde_json reads text; from bytes it checks every
    // string on its own. A body that is not UTF-8 is read as bytes, for serde_json's error with
    // its position.
    match std::str::from_utf8(body) {
        Ok(text) => decode_from(serde_json::Deserializer::from_str(text)),
        Err(_) => decode_from(serde_json::Deserializer::from_slice(body)),
    }
}

fn decode_from<'de, R: serde_json::de::Read<'de>, T: serde::de::DeserializeOwned>(
    mut de: serde_json::Deserializer<R>,
) -> Result<T, BodyError> {
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let source = e.into_inner();
        body_error(path, source)
    })?;
    de.end().map_err(|e| body_error(".".to_owned(), e))?;
    Ok(value)
}

fn body_error(path: String, source: serde_json::Error) -> BodyError {
    let syntax = matches!(
        source.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    );
    // serde's message ends with " at line L column C": useful for syntax errors only.
    let reason = if syntax {
        source.to_string()
    } else {
        let text = source.to_string();
        match text.rfind(" at line ") {
            Some(i) => text[..i].to_owned(),
            None => text,
        }
    };
    BodyError {
        path,
        reason,
        syntax,
        source,
    }
}

/// `POST /v1/apps/{appID}/conferences/{confID}/batch`: what the JS SDK sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The user's per-conference id; when absent ingest derives a stable one from app, conference
    /// and user, so a retried batch lands under the same id.
    #[serde(rename = "ucID", default, skip_serializing_if = "Option::is_none")]
    pub uc_id: Option<String>,
    /// A client id of the batch, so the processor can recognise a batch retried after a lost answer.
    #[serde(rename = "batchID", default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    pub events: Vec<BatchItem>,
}

/// One event of a batch: its kind, when it happened on the client, and its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    pub kind: EventKind,
    /// Client wall clock, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// The event's body as sent, unparsed until [`BatchItem::payload`] reads it as its kind: the
    /// kind may come after it in the object, and a `serde_json::Value` of it (built, written back
    /// to text, dropped) was a third of ingest's CPU (docs/benchmarks.md).
    pub data: Box<RawValue>,
}

impl PartialEq for BatchItem {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, self.timestamp, self.data.get())
            == (other.kind, other.timestamp, other.data.get())
    }
}

impl BatchItem {
    /// An item of `kind` whose body is `data`.
    pub fn new<T: Serialize + ?Sized>(
        kind: EventKind,
        timestamp: Option<f64>,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            kind,
            timestamp,
            data: serde_json::value::to_raw_value(data)?,
        })
    }

    /// The typed payload, with errors located inside the batch (`events[2].data.ssrc`).
    pub fn payload(&self, index: usize) -> Result<Payload, BodyError> {
        // `{"kind":…,"data":…}`, the payload's tagged form, from the body's own text.
        let kind = serde_json::to_string(&self.kind)
            .map_err(|e| body_error(format!("events[{index}]"), e))?;
        let data = self.data.get();
        let mut tagged = String::with_capacity(kind.len() + data.len() + 18);
        tagged.push_str("{\"kind\":");
        tagged.push_str(&kind);
        tagged.push_str(",\"data\":");
        tagged.push_str(data);
        tagged.push('}');
        decode_json::<Payload>(tagged.as_bytes()).map_err(|mut e| {
            e.path = if e.path == "." {
                format!("events[{index}]")
            } else {
                format!("events[{index}].{}", e.path)
            };
            e
        })
    }
}

/// Bus record bytes for one envelope or a batch of them. A single envelope is written as an object
/// (what every earlier record was), several as an array.
pub fn encode_record(envelopes: &[Envelope]) -> Result<Vec<u8>, serde_json::Error> {
    match envelopes {
        [one] => serde_json::to_vec(one),
        many => serde_json::to_vec(many),
    }
}

/// Decodes a bus record: one envelope (an object) or a batch (an array). Any bad envelope makes the
/// whole record undecodable: it was written as one, it is dead-lettered as one.
pub fn decode_record(bytes: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // One pass over the bytes when the record is good (the common case); the item-by-item
        // pass below, which scans them twice, only runs to say what is wrong with a bad one.
        if let Ok(envelopes) = crate::envelope::json_from_bytes::<Vec<Envelope>>(bytes)
            && envelopes
                .iter()
                .all(|e| (1..=SCHEMA_VERSION).contains(&e.v))
        {
            return Ok(envelopes);
        }
        let items: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(bytes).map_err(DecodeError::Json)?;
        items
            .iter()
            .map(|raw| Envelope::from_slice(raw.get().as_bytes()))
            .collect()
    } else {
        Envelope::from_slice(bytes).map(|e| vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn records_round_trip_single_and_batch() {
        let one = examples::envelope(EventKind::FabricSetup);
        let bytes = encode_record(std::slice::from_ref(&one)).unwrap();
        assert_eq!(bytes.first(), Some(&b'{'));
        assert_eq!(decode_record(&bytes).unwrap(), vec![one.clone()]);
        let many = examples::all_envelopes();
        let bytes = encode_record(&many).unwrap();
        assert_eq!(bytes.first(), Some(&b'['));
        assert_eq!(decode_record(&bytes).unwrap(), many);
    }

    #[test]
    fn a_bad_envelope_spoils_its_record() {
        let mut many = serde_json::to_value(examples::all_envelopes()).unwrap();
        many[1]["v"] = 99.into();
        let bytes = serde_json::to_vec(&many).unwrap();
        assert!(matches!(
            decode_record(&bytes),
            Err(DecodeError::UnsupportedVersion { version: 99, .. })
        ));
        assert!(decode_record(b"[1,2]").is_err());
        assert!(decode_record(b"").is_err());
    }

    #[test]
    fn batch_item_errors_name_the_field_inside_the_batch() {
        let body = br#"{"events":[{"kind":"user_alive","data":{}},{"kind":"feedback","data":{"feedback":{"overallRating":"x"}}}]}"#;
        let batch: BatchRequest = decode_json(body).unwrap();
        batch.events[0].payload(0).unwrap();
        let err = batch.events[1].payload(1).unwrap_err();
        assert_eq!(err.path, "events[1].data.feedback.overallRating");
        assert!(!err.syntax);
    }

    #[test]
    fn unknown_kind_and_syntax_errors_are_told_apart() {
        let err =
            decode_json::<BatchRequest>(br#"{"events":[{"kind":"nope","data":{}}]}"#).unwrap_err();
        assert_eq!(err.path, "events[0].kind");
        assert!(!err.syntax);
        let err = decode_json::<BatchRequest>(b"{\"events\": [").unwrap_err();
        assert!(err.syntax);
        let err = decode_json::<BatchRequest>(br#"{"events":[]} trailing"#).unwrap_err();
        assert!(err.syntax);
    }

    #[test]
    fn data_is_read_as_its_kind_wherever_the_kind_stands() {
        // `data` before `kind`, with spacing and escapes kept as sent: the same payload as the
        // typed example written the usual way.
        let want = examples::envelope(EventKind::Feedback).payload;
        let data =
            serde_json::to_string_pretty(&serde_json::to_value(&want).unwrap()["data"]).unwrap();
        let body =
            format!(r#"{{"events":[{{"data": {data} , "timestamp": 5, "kind":"feedback"}}]}}"#);
        let batch: BatchRequest = decode_json(body.as_bytes()).unwrap();
        assert_eq!(batch.events[0].data.get(), data);
        assert_eq!(batch.events[0].payload(0).unwrap(), want);
        // An item built from a value holds the same text as one read from a body.
        let built =
            BatchItem::new(EventKind::Feedback, Some(5.0), &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(built.data.get(), r#"{"a":1}"#);
        let read: BatchItem =
            decode_json(br#"{"kind":"feedback","timestamp":5.0,"data":{"a":1}}"#).unwrap();
        assert_eq!(built, read);
    }

    #[test]
    fn bodies_that_are_not_utf8_are_syntax_errors_with_the_position() {
        let mut body = br#"{"events":[{"kind":"user_alive","data":{"x":""#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}}]}"#);
        let err = decode_json::<BatchRequest>(&body).unwrap_err();
        assert!(err.syntax, "{err:?}");
        // 45 bytes precede the first bad one.
        assert!(
            err.reason
                .contains("invalid unicode code point at line 1 column 46"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn a_member_sent_twice_in_data_is_refused_not_guessed() {
        // Which of two `feedback` members counts is not the ingest's to guess: a client's
        // JSON.stringify never writes one twice, so this is a broken client, told where.
        let body = br#"{"events":[{"kind":"feedback","data":{"feedback":{"overallRating":4},"feedback":{"overallRating":1}}}]}"#;
        let batch: BatchRequest = decode_json(body).unwrap();
        let err = batch.events[0].payload(0).unwrap_err();
        assert!(err.reason.contains("duplicate field `feedback`"), "{err:?}");
        assert!(err.path.starts_with("events[0]"), "{}", err.path);
    }
}

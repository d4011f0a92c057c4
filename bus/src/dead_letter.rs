//! Dead-lettering: a message that cannot be decoded is copied, untouched, to the dead-letter topic with the
//! reason and where it came from, so that a poison message never stops its partition and is never dropped
//! without a trace.

use std::sync::Arc;

use crate::{BusError, Delivery, Message, Producer};

/// Header carrying why the message was dead-lettered.
pub const DEAD_LETTER_REASON_HEADER: &str = "callscope.dlq.reason";
/// Header carrying `topic[partition]@offset` of the original message.
pub const DEAD_LETTER_SOURCE_HEADER: &str = "callscope.dlq.source";

/// Longest reason kept: decoder errors can quote input, and a header is no place for a whole payload.
const MAX_REASON_BYTES: usize = 1024;

#[derive(Clone)]
pub struct DeadLetter {
    producer: Arc<dyn Producer>,
    topic: String,
}

impl std::fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("topic", &self.topic)
            .finish()
    }
}

impl DeadLetter {
    pub fn new(producer: Arc<dyn Producer>, topic: impl Into<String>) -> Self {
        Self {
            producer,
            topic: topic.into(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes `message` to the dead-letter topic and completes once that write is durable; only then may the
    /// caller count the original offset as done.
    pub async fn send(&self, message: &Message, reason: &str) -> Result<Delivery, BusError> {
        let reason = truncate_utf8(reason, MAX_REASON_BYTES);
        let source = format!(
            "{}[{}]@{}",
            message.topic, message.partition, message.offset
        );
        let mut headers: Vec<(&str, &[u8])> = message
            .headers
            .iter()
            .filter(|(name, _)| {
                name != DEAD_LETTER_REASON_HEADER && name != DEAD_LETTER_SOURCE_HEADER
            })
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        headers.push((DEAD_LETTER_REASON_HEADER, reason.as_bytes()));
        headers.push((DEAD_LETTER_SOURCE_HEADER, source.as_bytes()));
        tracing::warn!(
            source = %source,
            reason = %reason,
            dead_letter_topic = %self.topic,
            "message dead-lettered"
        );
        let key = message.key.as_deref().unwrap_or_default();
        self.producer
            .send(&self.topic, key, &message.payload, &headers)
            .await
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_utf8;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("abc", 10), "abc");
        assert_eq!(truncate_utf8("abcdef", 3), "abc");
        // "é" is two bytes: cutting at 2 would split it.
        assert_eq!(truncate_utf8("aé", 2), "a");
    }
}

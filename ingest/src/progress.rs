//! The integration progress tally (`callscope_schemas::integration`): what each registered app
//! called, accepted or refused, counted in memory and written to the bus once per interval.
//!
//! Memory is bounded: only apps in the registry are counted (the caller checks), at most
//! [`MAX_APPS`] of them, each with the fixed checklist of items, keeping only the latest refusal of
//! an item per interval. A request is counted once it is answered; counts of an interval whose
//! record the bus did not take are merged back and sent with the next one. A crash loses at most
//! one interval of counts: this is a progress view, not billing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use callscope_bus::Producer;
use callscope_schemas::envelope::EventKind;
use callscope_schemas::integration::{
    INTEGRATION_CONFERENCE_ID, IntegrationItem, IntegrationProgress, ItemProgress,
    item_for_refusal, items_for,
};
use callscope_schemas::limits::{ERROR_MESSAGE_MAX_BYTES, SHORT_TEXT_MAX_BYTES};
use callscope_schemas::{Envelope, Origin, Payload, encode_record};

use crate::auth::AuthError;
use crate::error::IngestError;

/// Most apps tallied at once; the registry is far smaller in practice.
pub const MAX_APPS: usize = 10_000;

/// The user ID written on progress records (ingest itself, not a client).
pub const PROGRESS_USER_ID: &str = "callscope-ingest";

#[derive(Debug, Default)]
struct Tally {
    window_start_ms: Option<i64>,
    items: BTreeMap<IntegrationItem, ItemProgress>,
}

/// Counts per app since the last [`Tracker::drain`].
#[derive(Debug, Default)]
pub struct Tracker {
    apps: Mutex<HashMap<String, Tally>>,
}

fn empty(item: IntegrationItem) -> ItemProgress {
    ItemProgress {
        item,
        accepted: 0,
        refused: 0,
        last_seen_ms: None,
        last_refused_ms: None,
        error: None,
        field: None,
        status: None,
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn merge(into: &mut ItemProgress, from: &ItemProgress) {
    into.accepted = into.accepted.saturating_add(from.accepted);
    into.refused = into.refused.saturating_add(from.refused);
    into.last_seen_ms = into.last_seen_ms.max(from.last_seen_ms);
    if from.last_refused_ms >= into.last_refused_ms && from.refused > 0 {
        into.last_refused_ms = from.last_refused_ms;
        into.error.clone_from(&from.error);
        into.field.clone_from(&from.field);
        into.status = from.status;
    }
}

/// The item a refused request is counted under, or `None` when it says nothing about the app's
/// integration: unknown apps (no app to count for), rate limits and an unavailable bus (the
/// service's state, not the client's mistake).
#[must_use]
pub fn refusal_item(error: &IngestError, kind: Option<EventKind>) -> Option<IntegrationItem> {
    match error {
        IngestError::Auth(AuthError::UnknownApp(_)) => None,
        IngestError::Auth(_) => Some(IntegrationItem::Initialize),
        IngestError::Invalid { field, .. } => item_for_refusal(kind, Some(field)),
        IngestError::BadRequest(_) | IngestError::TooLarge { .. } => item_for_refusal(kind, None),
        _ => None,
    }
}

/// The field a refusal named, if any.
#[must_use]
pub fn refusal_field(error: &IngestError) -> Option<&str> {
    match error {
        IngestError::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

impl Tracker {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn with_item(
        &self,
        app_id: &str,
        item: IntegrationItem,
        now_ms: i64,
        f: impl FnOnce(&mut ItemProgress),
    ) {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        if !apps.contains_key(app_id) && apps.len() >= MAX_APPS {
            tracing::warn!(
                max = MAX_APPS,
                "integration progress: too many apps; not counted"
            );
            return;
        }
        let tally = apps.entry(app_id.to_owned()).or_default();
        tally.window_start_ms.get_or_insert(now_ms);
        f(tally.items.entry(item).or_insert_with(|| empty(item)));
    }

    /// Counts an item as seen.
    pub fn accept(&self, app_id: &str, item: IntegrationItem, now_ms: i64) {
        self.with_item(app_id, item, now_ms, |p| {
            p.accepted = p.accepted.saturating_add(1);
            p.last_seen_ms = Some(now_ms);
        });
    }

    /// Counts every item the accepted envelopes stand for.
    pub fn accept_envelopes(&self, envelopes: &[Envelope], now_ms: i64) {
        for envelope in envelopes {
            for item in items_for(&envelope.payload) {
                self.accept(&envelope.app_id, item, now_ms);
            }
        }
    }

    /// Counts a refusal with what the client was told.
    pub fn refuse(
        &self,
        app_id: &str,
        item: IntegrationItem,
        status: u16,
        error: &str,
        field: Option<&str>,
        now_ms: i64,
    ) {
        self.with_item(app_id, item, now_ms, |p| {
            p.refused = p.refused.saturating_add(1);
            p.last_refused_ms = Some(now_ms);
            p.error = Some(cut(error, ERROR_MESSAGE_MAX_BYTES));
            p.field = field.map(|f| cut(f, SHORT_TEXT_MAX_BYTES));
            p.status = Some(status);
        });
    }

    /// Takes the counts of every app, as the records to write.
    pub fn drain(&self, now_ms: i64) -> Vec<Envelope> {
        let apps = std::mem::take(&mut *self.apps.lock().unwrap_or_else(PoisonError::into_inner));
        apps.into_iter()
            .filter(|(_, tally)| !tally.items.is_empty())
            .map(|(app_id, tally)| {
                let progress = IntegrationProgress {
                    common: Default::default(),
                    window_start_ms: tally.window_start_ms.unwrap_or(now_ms),
                    window_end_ms: now_ms,
                    items: tally.items.into_values().collect(),
                };
                let mut envelope = Envelope::new(
                    app_id,
                    INTEGRATION_CONFERENCE_ID,
                    now_ms,
                    Origin::Rest,
                    Payload::from(progress),
                );
                envelope.user_id = Some(PROGRESS_USER_ID.to_owned());
                envelope
            })
            .collect()
    }

    /// Puts back the counts of a record the bus did not take.
    pub fn restore(&self, envelope: &Envelope) {
        let Payload::IntegrationProgress(progress) = &envelope.payload else {
            return;
        };
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        let tally = apps.entry(envelope.app_id.clone()).or_default();
        tally.window_start_ms = Some(tally.window_start_ms.map_or(progress.window_start_ms, |s| {
            s.min(progress.window_start_ms)
        }));
        for item in &progress.items {
            merge(
                tally
                    .items
                    .entry(item.item)
                    .or_insert_with(|| empty(item.item)),
                item,
            );
        }
    }

    /// Drains and writes the records; what the bus refuses is kept for the next call.
    pub async fn flush(
        &self,
        producer: &dyn Producer,
        topic: &str,
        timeout: Duration,
        now_ms: i64,
    ) {
        for envelope in self.drain(now_ms) {
            let Ok(bytes) = encode_record(std::slice::from_ref(&envelope)) else {
                continue;
            };
            let key = envelope.bus_key();
            let sent =
                tokio::time::timeout(timeout, producer.send(topic, key.as_bytes(), &bytes, &[]))
                    .await;
            match sent {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, app_id = %envelope.app_id, "integration progress not written; kept for the next interval");
                    self.restore(&envelope);
                }
                Err(_) => {
                    tracing::warn!(app_id = %envelope.app_id, "integration progress not acknowledged in time; kept for the next interval");
                    self.restore(&envelope);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscope_schemas::examples;

    fn items(envelope: &Envelope) -> Vec<ItemProgress> {
        match &envelope.payload {
            Payload::IntegrationProgress(p) => p.items.clone(),
            _ => panic!("not a progress record"),
        }
    }

    #[test]
    fn counts_accepted_and_refused_per_app_and_drains() {
        let t = Tracker::new();
        let mut created = examples::envelope(EventKind::FabricCreated);
        created.app_id = "a".into();
        t.accept_envelopes(&[created.clone(), created], 1_000);
        t.accept("a", IntegrationItem::Initialize, 900);
        t.refuse(
            "a",
            IntegrationItem::SendFabricEvent,
            422,
            "events[0].data.eventType: unknown variant `x`",
            Some("events[0].data.eventType"),
            1_100,
        );
        t.refuse(
            "a",
            IntegrationItem::SendFabricEvent,
            422,
            "second",
            None,
            1_200,
        );
        t.accept("b", IntegrationItem::Stats, 1_050);

        let mut out = t.drain(2_000);
        out.sort_by(|x, y| x.app_id.cmp(&y.app_id));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].conference_id, INTEGRATION_CONFERENCE_ID);
        let a = items(&out[0]);
        // BTreeMap order: Initialize < AddNewFabric < ... < SendFabricEvent.
        assert_eq!(a.len(), 3);
        assert_eq!(
            (a[0].item, a[0].accepted, a[0].refused),
            (IntegrationItem::Initialize, 1, 0)
        );
        assert_eq!(
            (a[1].item, a[1].accepted, a[1].last_seen_ms),
            (IntegrationItem::AddNewFabric, 2, Some(1_000))
        );
        assert_eq!(a[2].item, IntegrationItem::SendFabricEvent);
        assert_eq!((a[2].accepted, a[2].refused), (0, 2));
        // The latest refusal wins.
        assert_eq!(a[2].error.as_deref(), Some("second"));
        assert_eq!(a[2].field, None);
        assert_eq!(a[2].last_refused_ms, Some(1_200));
        match &out[0].payload {
            Payload::IntegrationProgress(p) => {
                assert_eq!((p.window_start_ms, p.window_end_ms), (1_000, 2_000));
            }
            _ => unreachable!(),
        }
        // Drained: nothing left.
        assert!(t.drain(3_000).is_empty());
    }

    #[test]
    fn restore_merges_back_a_record_the_bus_refused() {
        let t = Tracker::new();
        t.accept("a", IntegrationItem::Stats, 10);
        let lost = t.drain(20);
        t.accept("a", IntegrationItem::Stats, 30);
        t.refuse("a", IntegrationItem::Stats, 413, "too large", None, 25);
        for e in &lost {
            t.restore(e);
        }
        let out = t.drain(40);
        let a = items(&out[0]);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].accepted, a[0].refused), (2, 1));
        assert_eq!(a[0].last_seen_ms, Some(30));
        assert_eq!(a[0].error.as_deref(), Some("too large"));
        match &out[0].payload {
            Payload::IntegrationProgress(p) => assert_eq!(p.window_start_ms, 10),
            _ => unreachable!(),
        }
    }

    #[test]
    fn refusals_are_attributed_or_ignored() {
        let invalid = IngestError::Invalid {
            field: "events[0].data.endpointInfo.appVersion".into(),
            reason: "longer than 30 characters".into(),
        };
        assert_eq!(
            refusal_item(&invalid, Some(EventKind::UserJoined)),
            Some(IntegrationItem::ApplicationVersion)
        );
        assert_eq!(
            refusal_item(
                &IngestError::Auth(AuthError::MissingToken),
                Some(EventKind::StatsSample)
            ),
            Some(IntegrationItem::Initialize)
        );
        assert_eq!(
            refusal_item(&IngestError::Auth(AuthError::UnknownApp("x".into())), None),
            None
        );
        assert_eq!(
            refusal_item(
                &IngestError::RateLimited {
                    scope: "app",
                    retry_after: Duration::from_secs(1)
                },
                Some(EventKind::StatsSample)
            ),
            None
        );
        assert_eq!(
            refusal_item(
                &IngestError::TooLarge { limit: 1 },
                Some(EventKind::StatsSample)
            ),
            Some(IntegrationItem::Stats)
        );
        assert_eq!(
            refusal_field(&invalid),
            Some("events[0].data.endpointInfo.appVersion")
        );
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let t = Tracker::new();
        let long = "é".repeat(ERROR_MESSAGE_MAX_BYTES);
        t.refuse("a", IntegrationItem::Stats, 422, &long, None, 1);
        let out = t.drain(2);
        let error = items(&out[0])[0].error.clone().unwrap();
        assert!(error.len() <= ERROR_MESSAGE_MAX_BYTES);
        assert_eq!(error.len(), ERROR_MESSAGE_MAX_BYTES);
        assert!(out[0].validate().is_ok());
    }
}

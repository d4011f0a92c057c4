//! Integration progress (`GET /api/v1/integration`): the checklist of SDK and REST calls of one
//! app, each green (seen, no refusals in the range), amber (refusals in the range) or grey (never
//! seen in the range), from the `integration` table that ingest's counts become.

use std::collections::HashMap;

use callscope_schemas::integration::IntegrationItem;
use datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dashboard::Scope;
use crate::error::QueryError;
use crate::json;
use crate::time::utc_date;

/// Most recent refusals shown per item.
pub const REFUSALS_PER_ITEM: usize = 5;

/// Status of one checklist line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// Seen, and nothing refused in the range.
    Green,
    /// Refused at least once in the range: the line says why and how to fix it.
    Amber,
    /// Never seen in the range.
    Grey,
}

/// One refused request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub at: i64,
    pub error: Option<String>,
    pub field: Option<String>,
    pub status: Option<i64>,
}

/// One checklist line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub item: String,
    pub label: String,
    /// The line this one is a detail of (`send_fabric_event` for each fabricEvent kind).
    pub parent: Option<String>,
    pub status: Light,
    pub accepted: i64,
    pub refused: i64,
    pub last_seen: Option<i64>,
    pub last_refused: Option<i64>,
    /// How to make an amber line green (amber lines only).
    pub fix: Option<String>,
    /// Most recent first, at most [`REFUSALS_PER_ITEM`].
    pub refusals: Vec<Refusal>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub from: i64,
    pub to: i64,
    pub green: usize,
    pub amber: usize,
    pub grey: usize,
    pub items: Vec<Line>,
}

const TOTALS: &str = "
SELECT item, SUM(accepted) AS accepted, SUM(refused) AS refused,
       CAST(MAX(last_seen) AS BIGINT) AS last_seen,
       CAST(MAX(last_refused) AS BIGINT) AS last_refused
FROM integration
WHERE window_end >= $1 AND window_start < $2 AND date >= $3 AND date <= $4
GROUP BY item";

/// Each row carries the latest refusal of its interval; the latest rows are the latest refusals.
const REFUSALS: &str = "
SELECT item, CAST(last_refused AS BIGINT) AS at, last_error, last_field,
       CAST(last_status AS BIGINT) AS status
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY item ORDER BY last_refused DESC, bus_offset DESC) AS n
    FROM integration
    WHERE refused > 0 AND window_end >= $1 AND window_start < $2 AND date >= $3 AND date <= $4
)
WHERE n <= $5
ORDER BY item, at DESC";

fn opt_int(row: &json::Row, name: &str) -> Option<i64> {
    row.get(name).and_then(Value::as_i64)
}

fn opt_text(row: &json::Row, name: &str) -> Option<String> {
    row.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The checklist over `[from, to)`.
pub async fn integration(scope: Scope, from: i64, to: i64) -> Result<Integration, QueryError> {
    let range = || {
        vec![
            ScalarValue::TimestampMillisecond(Some(from), Some("UTC".into())),
            ScalarValue::TimestampMillisecond(Some(to), Some("UTC".into())),
            ScalarValue::Utf8(Some(utc_date(from))),
            ScalarValue::Utf8(Some(utc_date(to))),
        ]
    };
    let totals = scope.sql(TOTALS, range()).await?;
    let mut params = range();
    params.push(ScalarValue::Int64(Some(
        i64::try_from(REFUSALS_PER_ITEM).unwrap_or(5),
    )));
    let refusals = scope.sql(REFUSALS, params).await?;

    let mut by_item: HashMap<String, json::Row> = HashMap::new();
    for row in json::rows(&totals.batches) {
        if let Some(item) = opt_text(&row, "item") {
            by_item.insert(item, row);
        }
    }
    let mut refused_rows: HashMap<String, Vec<Refusal>> = HashMap::new();
    for row in json::rows(&refusals.batches) {
        let (Some(item), Some(at)) = (opt_text(&row, "item"), opt_int(&row, "at")) else {
            continue;
        };
        refused_rows.entry(item).or_default().push(Refusal {
            at,
            error: opt_text(&row, "last_error"),
            field: opt_text(&row, "last_field"),
            status: opt_int(&row, "status"),
        });
    }
    Ok(checklist(from, to, &by_item, &mut refused_rows))
}

/// Builds the lines from the sums per item: pure, so the colour rules are unit tested.
fn checklist(
    from: i64,
    to: i64,
    totals: &HashMap<String, json::Row>,
    refusals: &mut HashMap<String, Vec<Refusal>>,
) -> Integration {
    let items: Vec<Line> = IntegrationItem::checklist()
        .into_iter()
        .map(|item| {
            let id = item.id();
            let row = totals.get(&id);
            let accepted = row.and_then(|r| opt_int(r, "accepted")).unwrap_or(0);
            let refused = row.and_then(|r| opt_int(r, "refused")).unwrap_or(0);
            let status = if refused > 0 {
                Light::Amber
            } else if accepted > 0 {
                Light::Green
            } else {
                Light::Grey
            };
            Line {
                label: item.label(),
                parent: item.parent().map(IntegrationItem::id),
                status,
                accepted,
                refused,
                last_seen: row.and_then(|r| opt_int(r, "last_seen")),
                last_refused: row.and_then(|r| opt_int(r, "last_refused")),
                fix: (status == Light::Amber).then(|| item.fix_hint().to_owned()),
                refusals: refusals.remove(&id).unwrap_or_default(),
                item: id,
            }
        })
        .collect();
    let count = |light| items.iter().filter(|l| l.status == light).count();
    Integration {
        from,
        to,
        green: count(Light::Green),
        amber: count(Light::Amber),
        grey: count(Light::Grey),
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(accepted: i64, refused: i64) -> json::Row {
        let mut r = json::Row::new();
        r.insert("accepted".into(), accepted.into());
        r.insert("refused".into(), refused.into());
        r
    }

    #[test]
    fn colours_by_counts() {
        let mut totals = HashMap::new();
        totals.insert("initialize".to_owned(), row(1, 0));
        totals.insert("add_new_fabric".to_owned(), row(3, 0));
        totals.insert("send_fabric_event".to_owned(), row(0, 1));
        totals.insert("stats".to_owned(), row(10, 2));
        let mut refusals = HashMap::new();
        refusals.insert(
            "send_fabric_event".to_owned(),
            vec![Refusal {
                at: 5,
                error: Some("bad".into()),
                field: Some("events[0].data.eventType".into()),
                status: Some(422),
            }],
        );
        let c = checklist(0, 10, &totals, &mut refusals);
        assert_eq!(c.items.len(), 20);
        assert_eq!((c.green, c.amber, c.grey), (2, 2, 16));
        let line = |id: &str| c.items.iter().find(|l| l.item == id).unwrap();
        assert_eq!(line("initialize").status, Light::Green);
        assert_eq!(line("initialize").fix, None);
        let sfe = line("send_fabric_event");
        assert_eq!(sfe.status, Light::Amber);
        assert!(
            sfe.fix
                .as_deref()
                .unwrap()
                .contains("callstats.fabricEvent")
        );
        assert_eq!(sfe.refusals.len(), 1);
        assert_eq!(line("stats").status, Light::Amber);
        assert_eq!(line("send_user_feedback").status, Light::Grey);
        assert_eq!(
            line("fabric_event.audioMute").parent.as_deref(),
            Some("send_fabric_event")
        );
    }
}

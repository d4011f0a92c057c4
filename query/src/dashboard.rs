//! The dashboard API's queries. Each runs in the caller's per-app session (see
//! [`crate::lake::Lake::session_for`]); values from the request reach the engine as typed
//! parameters or DataFrame expressions, never as SQL text.
//!
//! Every row is placed in time by a column of its own table:
//! - `conferences`: `start_time`;
//! - `fabrics`: `created_at`, else `setup_at`, `failed_at`, `last_event_at`;
//! - `user_quality`: `joined_at`, else `worst_interval_start`, `left_at` (rows with none of these
//!   are in no range);
//! - `events`, `errors`, `feedback`: `received_at`; `track_quality`: `interval_start`.
//!
//! Answers are deterministic: every list has a total order (ties broken by identifiers).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, SortExpr};
use datafusion::prelude::{SessionContext, cast, coalesce, col, lit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::QueryError;
use crate::exec;
use crate::json::{self, Row};
use crate::metrics::Metrics;
use crate::sql::ResultSet;
use crate::time::{DAY_MS, bucket_start, exact_partition_dates, partition_dates, utc_date};

/// What every dashboard query needs: the caller's session and the limits.
#[derive(Clone)]
pub struct Scope {
    pub ctx: SessionContext,
    pub metrics: Metrics,
    pub max_rows: usize,
}

fn ts(ms: i64) -> ScalarValue {
    ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()))
}

fn text(value: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(value.to_owned()))
}

fn ts_lit(ms: i64) -> Expr {
    lit(ts(ms))
}

impl Scope {
    /// Runs one of this module's SQL texts with its parameters (`$1`, `$2`, ...).
    pub(crate) async fn sql(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
    ) -> Result<ResultSet, QueryError> {
        let df = self
            .ctx
            .sql(sql)
            .await
            .and_then(|df| df.with_param_values(params))
            .map_err(QueryError::from_internal)?;
        self.collect(df).await
    }

    async fn collect(&self, df: DataFrame) -> Result<ResultSet, QueryError> {
        exec::collect(df, self.max_rows, &self.metrics)
            .await
            .map_err(QueryError::from_internal)
    }

    async fn table(&self, name: &str) -> Result<DataFrame, QueryError> {
        self.ctx
            .table(name)
            .await
            .map_err(QueryError::from_internal)
    }
}

fn num(row: &Row, name: &str) -> Option<f64> {
    row.get(name).and_then(Value::as_f64)
}

fn int(row: &Row, name: &str) -> i64 {
    row.get(name).and_then(Value::as_i64).unwrap_or(0)
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

// ---------------------------------------------------------------------------------------------
// Overview

/// One bucket of the overview (or the totals over the whole range).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OverviewPoint {
    /// Bucket start, Unix milliseconds (absent in `totals`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<i64>,
    pub conferences: i64,
    /// Sum of `conferences.users`.
    pub participants: i64,
    /// Sum of `conferences.fabrics`.
    pub fabrics: i64,
    pub setup_success: i64,
    pub setup_partial: i64,
    pub setup_failed: i64,
    /// Shares of the conferences with a `setup_status`.
    pub setup_success_rate: Option<f64>,
    pub setup_partial_rate: Option<f64>,
    pub setup_failure_rate: Option<f64>,
    /// Exact percentiles (linear interpolation) of `fabrics.setup_delay_ms` of set-up fabrics.
    pub setup_delay_p50_ms: Option<f64>,
    pub setup_delay_p95_ms: Option<f64>,
    /// Mean over conferences of `conferences.mean_mos` / `mean_video_score` (nulls skipped).
    pub mean_mos: Option<f64>,
    pub mean_video_score: Option<f64>,
    /// Mean `feedback.overall` of the feedback received in the bucket.
    pub feedback_mean: Option<f64>,
    pub feedback_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub from: i64,
    pub to: i64,
    pub interval_ms: i64,
    pub totals: OverviewPoint,
    /// Every bucket from `from` to `to`, empty ones included, oldest first.
    pub series: Vec<OverviewPoint>,
}

const OVERVIEW_CONFERENCES: &str = "
SELECT bucket,
       COUNT(*) AS conferences,
       SUM(users) AS participants,
       SUM(fabrics) AS fabrics,
       SUM(CASE WHEN setup_status = 'success' THEN 1 ELSE 0 END) AS setup_success,
       SUM(CASE WHEN setup_status = 'partially_failed' THEN 1 ELSE 0 END) AS setup_partial,
       SUM(CASE WHEN setup_status = 'failed' THEN 1 ELSE 0 END) AS setup_failed,
       AVG(mean_mos) AS mean_mos,
       AVG(mean_video_score) AS mean_video_score
FROM (
    SELECT CAST(start_time AS BIGINT) / CAST($3 AS BIGINT) * CAST($3 AS BIGINT) AS bucket,
           users, fabrics, setup_status, mean_mos, mean_video_score
    FROM conferences
    WHERE start_time >= $1 AND start_time < $2 AND date >= $4 AND date <= $5
) AS c
GROUP BY ROLLUP(bucket)";

/// Delays are aggregated here and their percentiles computed in Rust ([`percentile`]):
/// DataFusion's `percentile_cont` quantises the interpolation fraction to 1e-6, which turns
/// p95 of [400, 850, 1200] into 1164.99965 instead of 1165.
///
/// `(created_at >= $1 OR created_at IS NULL) AND (created_at < $2 OR created_at IS NULL)` is
/// implied by the `COALESCE` conditions (a non-null `created_at` is the `COALESCE`), so it changes
/// no answer; unlike them it can be checked against Parquet statistics (min, max and null count
/// of `created_at`), so files and row groups of the margin days whose fabrics were all created
/// outside the range are skipped undecoded. Overview only: in the breakdowns the same condition
/// made the benchmark slower (docs/benchmarks.md, "## Query").
const OVERVIEW_FABRICS: &str = "
SELECT bucket, array_agg(setup_delay_ms) AS delays
FROM (
    SELECT CAST(COALESCE(created_at, setup_at, failed_at, last_event_at) AS BIGINT)
               / CAST($3 AS BIGINT) * CAST($3 AS BIGINT) AS bucket,
           setup_delay_ms
    FROM fabrics
    WHERE outcome = 'setup' AND setup_delay_ms IS NOT NULL
      AND COALESCE(created_at, setup_at, failed_at, last_event_at) >= $1
      AND COALESCE(created_at, setup_at, failed_at, last_event_at) < $2
      AND (created_at >= $1 OR created_at IS NULL) AND (created_at < $2 OR created_at IS NULL)
      AND date >= $4 AND date <= $5
) AS f
GROUP BY bucket";

const OVERVIEW_FEEDBACK: &str = "
SELECT bucket,
       AVG(CAST(overall AS DOUBLE)) AS feedback_mean,
       COUNT(*) AS feedback_count
FROM (
    SELECT CAST(received_at AS BIGINT) / CAST($3 AS BIGINT) * CAST($3 AS BIGINT) AS bucket, overall
    FROM feedback
    WHERE received_at >= $1 AND received_at < $2 AND date >= $4 AND date <= $5
) AS fb
GROUP BY ROLLUP(bucket)";

pub async fn overview(
    scope: Scope,
    from: i64,
    to: i64,
    interval: i64,
) -> Result<Overview, QueryError> {
    // `conferences` (by `start_time`) and `feedback` (by `received_at`) are partitioned by the
    // date of the very time that places them in the range: no margin. `fabrics` sit in their
    // conference's partition but are placed by client times: one day of margin each side.
    let params = |(first_date, last_date): (String, String)| {
        vec![
            ts(from),
            ts(to),
            ScalarValue::Int64(Some(interval)),
            text(&first_date),
            text(&last_date),
        ]
    };
    let (conferences, fabrics, feedback) = futures::try_join!(
        scope.sql(
            OVERVIEW_CONFERENCES,
            params(exact_partition_dates(from, to))
        ),
        scope.sql(OVERVIEW_FABRICS, params(partition_dates(from, to))),
        scope.sql(OVERVIEW_FEEDBACK, params(exact_partition_dates(from, to))),
    )?;
    // Rows keyed by bucket; `None` is ROLLUP's grand total (bucket is never null otherwise: every
    // time expression above is non-null).
    let keyed = |result: &ResultSet| -> BTreeMap<Option<i64>, Row> {
        json::rows(&result.batches)
            .into_iter()
            .map(|row| (row.get("bucket").and_then(Value::as_i64), row))
            .collect()
    };
    let conferences = keyed(&conferences);
    let mut delays = delays_by_bucket(&fabrics)?;
    let all: Vec<f64> = delays.values().flatten().copied().collect();
    delays.insert(None, all);
    // p50 and p95 of each bucket and of the whole range.
    let delays: BTreeMap<Option<i64>, (Option<f64>, Option<f64>)> = delays
        .into_iter()
        .map(|(t, mut values)| {
            let p50 = select_percentile(&mut values, 0.5);
            let p95 = select_percentile(&mut values, 0.95);
            (t, (p50, p95))
        })
        .collect();
    let feedback = keyed(&feedback);
    let point = |t: Option<i64>| {
        let mut p = OverviewPoint {
            t,
            ..OverviewPoint::default()
        };
        if let Some(row) = conferences.get(&t) {
            p.conferences = int(row, "conferences");
            p.participants = int(row, "participants");
            p.fabrics = int(row, "fabrics");
            p.setup_success = int(row, "setup_success");
            p.setup_partial = int(row, "setup_partial");
            p.setup_failed = int(row, "setup_failed");
            let known = p.setup_success + p.setup_partial + p.setup_failed;
            p.setup_success_rate = ratio(p.setup_success, known);
            p.setup_partial_rate = ratio(p.setup_partial, known);
            p.setup_failure_rate = ratio(p.setup_failed, known);
            p.mean_mos = num(row, "mean_mos");
            p.mean_video_score = num(row, "mean_video_score");
        }
        if let Some((p50, p95)) = delays.get(&t) {
            p.setup_delay_p50_ms = *p50;
            p.setup_delay_p95_ms = *p95;
        }
        if let Some(row) = feedback.get(&t) {
            p.feedback_mean = num(row, "feedback_mean");
            p.feedback_count = int(row, "feedback_count");
        }
        p
    };
    let mut totals = point(None);
    totals.t = None;
    let mut series = Vec::new();
    let mut t = bucket_start(from, interval);
    while t < to {
        series.push(point(Some(t)));
        t += interval;
    }
    Ok(Overview {
        from,
        to,
        interval_ms: interval,
        totals,
        series,
    })
}

/// The delays of each bucket, in no order, read straight from Arrow (they can be millions).
fn delays_by_bucket(result: &ResultSet) -> Result<BTreeMap<Option<i64>, Vec<f64>>, QueryError> {
    use arrow::array::{Array as _, AsArray as _};
    use arrow::datatypes::{Float64Type, Int64Type};

    let shape = || QueryError::Internal("setup delays: unexpected column types".to_owned());
    let mut out: BTreeMap<Option<i64>, Vec<f64>> = BTreeMap::new();
    for batch in &result.batches {
        let buckets = batch
            .column(0)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(shape)?;
        let lists = batch.column(1).as_list_opt::<i32>().ok_or_else(shape)?;
        for row in 0..batch.num_rows() {
            if buckets.is_null(row) || lists.is_null(row) {
                continue;
            }
            let values = lists.value(row);
            let values = values.as_primitive_opt::<Float64Type>().ok_or_else(shape)?;
            let entry = out.entry(Some(buckets.value(row))).or_default();
            entry.extend(values.iter().flatten().filter(|v| v.is_finite()));
        }
    }
    Ok(out)
}

/// `percentile_cont`: linear interpolation between the closest ranks of sorted values, rounded
/// to 1e-6 so that float noise does not show (p95 of [400, 850, 1200] is 1165, not
/// 1164.9999999999998).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = p.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let (lo, hi) = (*sorted.get(below)?, *sorted.get(above)?);
    let value = lo + (hi - lo) * (position - below as f64);
    Some((value * 1e6).round() / 1e6)
}

/// [`percentile`] of `values` in any order, without sorting them: the two closest ranks are
/// selected (`select_nth_unstable_by`, linear time) in the order `f64::total_cmp` sorts them, so
/// the answer is the very value [`percentile`] gives on the sorted values. Reorders `values`.
pub fn select_percentile(values: &mut [f64], p: f64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    let position = p.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    if above > last {
        return None;
    }
    let (_, lo, higher) = values.select_nth_unstable_by(below, f64::total_cmp);
    let lo = *lo;
    // The next rank up is the least of the values after `below`.
    let hi = if above == below {
        lo
    } else {
        higher.iter().copied().min_by(f64::total_cmp)?
    };
    let value = lo + (hi - lo) * (position - below as f64);
    Some((value * 1e6).round() / 1e6)
}

// ---------------------------------------------------------------------------------------------
// Breakdowns

/// The dimensions of `GET /api/v1/breakdown/{dimension}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Browser,
    Os,
    AppVersion,
    EndpointType,
    RelayType,
    FailureReason,
}

impl Dimension {
    pub const ALL: [Dimension; 6] = [
        Dimension::Browser,
        Dimension::Os,
        Dimension::AppVersion,
        Dimension::EndpointType,
        Dimension::RelayType,
        Dimension::FailureReason,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Browser => "browser",
            Dimension::Os => "os",
            Dimension::AppVersion => "app_version",
            Dimension::EndpointType => "endpoint_type",
            Dimension::RelayType => "relay_type",
            Dimension::FailureReason => "failure_reason",
        }
    }

    pub fn parse(text: &str) -> Result<Self, QueryError> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == text)
            .ok_or_else(|| {
                QueryError::NotFound(format!(
                    "unknown dimension {:?}; one of: {}",
                    text.chars().take(64).collect::<String>(),
                    Self::ALL.map(Dimension::as_str).join(", ")
                ))
            })
    }

    /// What `count` counts for this dimension.
    pub fn unit(self) -> &'static str {
        match self {
            Dimension::Browser
            | Dimension::Os
            | Dimension::AppVersion
            | Dimension::EndpointType => "users",
            Dimension::RelayType | Dimension::FailureReason => "fabrics",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    /// The dimension's value; `unknown` where the column is null.
    pub value: String,
    pub count: i64,
    /// `count` over the sum of every row's `count`.
    pub share: f64,
    /// Distinct conference ids among the counted rows.
    pub conferences: i64,
    /// User dimensions: mean of `user_quality.mean_mos` / `mean_video_score`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_mos: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_video_score: Option<f64>,
    /// `relay_type`: median setup delay of the fabrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_delay_p50_ms: Option<f64>,
    /// `failure_reason`: the reason's `failure_category`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_category: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub dimension: Dimension,
    pub unit: String,
    pub from: i64,
    pub to: i64,
    pub total: i64,
    /// Largest `count` first, then by `value`.
    pub rows: Vec<BreakdownRow>,
}

const USER_TIME: &str = "COALESCE(joined_at, worst_interval_start, left_at)";
const FABRIC_TIME: &str = "COALESCE(created_at, setup_at, failed_at, last_event_at)";

fn breakdown_sql(dimension: Dimension) -> String {
    // Column names come from this match, never from the request.
    let user_column = match dimension {
        Dimension::Browser => Some("browser"),
        Dimension::Os => Some("os"),
        Dimension::AppVersion => Some("app_version"),
        Dimension::EndpointType => Some("endpoint_type"),
        Dimension::RelayType | Dimension::FailureReason => None,
    };
    if let Some(column) = user_column {
        return format!(
            "SELECT COALESCE({column}, 'unknown') AS value,
                    COUNT(*) AS count,
                    COUNT(DISTINCT conference_id) AS conferences,
                    AVG(mean_mos) AS mean_mos,
                    AVG(mean_video_score) AS mean_video_score
             FROM user_quality
             WHERE {USER_TIME} >= $1 AND {USER_TIME} < $2 AND date >= $3 AND date <= $4
             GROUP BY 1
             ORDER BY count DESC, value ASC"
        );
    }
    if dimension == Dimension::RelayType {
        // Set-up fabrics only: a connection that never connected has no selected pair.
        return format!(
            "SELECT CASE WHEN relayed IS NULL THEN 'unknown'
                         WHEN NOT relayed THEN 'direct'
                         WHEN relay_protocol IS NULL THEN 'turn'
                         ELSE concat('turn/', relay_protocol) END AS value,
                    COUNT(*) AS count,
                    COUNT(DISTINCT conference_id) AS conferences,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY setup_delay_ms) AS setup_delay_p50_ms
             FROM fabrics
             WHERE outcome = 'setup'
               AND {FABRIC_TIME} >= $1 AND {FABRIC_TIME} < $2 AND date >= $3 AND date <= $4
             GROUP BY 1
             ORDER BY count DESC, value ASC"
        );
    }
    // Failures while establishing, and established connections that failed later (callstats'
    // "transport after setup").
    format!(
        "SELECT COALESCE(failure_reason, 'unknown') AS value,
                COUNT(*) AS count,
                COUNT(DISTINCT conference_id) AS conferences,
                MIN(failure_category) AS failure_category
         FROM fabrics
         WHERE (outcome = 'failed' OR dropped)
           AND {FABRIC_TIME} >= $1 AND {FABRIC_TIME} < $2 AND date >= $3 AND date <= $4
         GROUP BY 1
         ORDER BY count DESC, value ASC"
    )
}

pub async fn breakdown(
    scope: Scope,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> Result<Breakdown, QueryError> {
    let (first_date, last_date) = partition_dates(from, to);
    let result = scope
        .sql(
            &breakdown_sql(dimension),
            vec![ts(from), ts(to), text(&first_date), text(&last_date)],
        )
        .await?;
    let rows = json::rows(&result.batches);
    let total: i64 = rows.iter().map(|r| int(r, "count")).sum();
    let rows = rows
        .iter()
        .map(|r| BreakdownRow {
            value: r
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            count: int(r, "count"),
            share: ratio(int(r, "count"), total).unwrap_or(0.0),
            conferences: int(r, "conferences"),
            mean_mos: num(r, "mean_mos"),
            mean_video_score: num(r, "mean_video_score"),
            setup_delay_p50_ms: num(r, "setup_delay_p50_ms"),
            failure_category: r
                .get("failure_category")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
        .collect();
    Ok(Breakdown {
        dimension,
        unit: dimension.unit().to_owned(),
        from,
        to,
        total,
        rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Conference list

/// Orders of `GET /api/v1/conferences`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Lowest `worst_user_mos` first (conferences without a MOS last).
    WorstQuality,
    /// Highest `setup_delay_max_ms` first (without one last).
    LongestSetup,
    /// Only conferences with failed fabrics, most `fabrics_failed` first.
    Failed,
    /// Latest `start_time` first.
    Recent,
}

impl Sort {
    pub const ALL: [Sort; 4] = [
        Sort::WorstQuality,
        Sort::LongestSetup,
        Sort::Failed,
        Sort::Recent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::WorstQuality => "worst_quality",
            Sort::LongestSetup => "longest_setup",
            Sort::Failed => "failed",
            Sort::Recent => "recent",
        }
    }

    pub fn parse(text: &str) -> Result<Self, QueryError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                QueryError::BadRequest(format!(
                    "sort: one of {}",
                    Self::ALL.map(Sort::as_str).join(", ")
                ))
            })
    }

    /// The primary sort key, a non-null float so that a cursor can hold it; and whether it
    /// ascends.
    fn key(self) -> (Expr, bool) {
        use arrow::datatypes::DataType::{Float64, Int64};
        match self {
            Sort::WorstQuality => (coalesce(vec![col("worst_user_mos"), lit(1.0e9)]), true),
            Sort::LongestSetup => (coalesce(vec![col("setup_delay_max_ms"), lit(-1.0)]), false),
            Sort::Failed => (cast(col("fabrics_failed"), Float64), false),
            Sort::Recent => (cast(cast(col("start_time"), Int64), Float64), false),
        }
    }
}

/// Where the previous page ended: opaque to clients (base64url JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    sort: Sort,
    key: f64,
    conference_id: String,
    segment: i32,
}

impl Cursor {
    fn encode(&self) -> Result<String, QueryError> {
        serde_json::to_vec(self)
            .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|e| QueryError::Internal(format!("encoding cursor: {e}")))
    }

    fn decode(text: &str, sort: Sort) -> Result<Self, QueryError> {
        let bad = || QueryError::BadRequest("cursor: not a cursor of this list".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.sort != sort || !cursor.key.is_finite() {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// The columns of a conference list entry.
const LIST_COLUMNS: &[&str] = &[
    "conference_id",
    "segment",
    "start_time",
    "end_time",
    "duration_ms",
    "end_reason",
    "users",
    "fabrics",
    "fabrics_setup",
    "fabrics_failed",
    "setup_status",
    "setup_delay_median_ms",
    "setup_delay_max_ms",
    "mean_mos",
    "worst_user_mos",
    "worst_user_id",
    "mean_video_score",
    "worst_user_video_score",
    "feedback_mean",
    "feedback_count",
    "relay_share",
    "browsers",
    "os",
    "app_versions",
];

pub const MAX_PAGE: usize = 500;
pub const DEFAULT_PAGE: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConferenceList {
    pub from: i64,
    pub to: i64,
    pub sort: Sort,
    pub conferences: Vec<Row>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub async fn conferences(
    scope: Scope,
    from: i64,
    to: i64,
    sort: Sort,
    limit: usize,
    cursor: Option<String>,
) -> Result<ConferenceList, QueryError> {
    let cursor = cursor
        .as_deref()
        .map(|c| Cursor::decode(c, sort))
        .transpose()?;
    let limit = limit.clamp(1, MAX_PAGE.min(scope.max_rows.max(1)));
    // `date` is the UTC date of `start_time`: no margin.
    let (first_date, last_date) = exact_partition_dates(from, to);
    let (key, ascending) = sort.key();
    let mut filter = col("start_time")
        .gt_eq(ts_lit(from))
        .and(col("start_time").lt(ts_lit(to)))
        .and(col("date").gt_eq(lit(first_date)))
        .and(col("date").lt_eq(lit(last_date)));
    if sort == Sort::Failed {
        filter = filter.and(col("fabrics_failed").gt(lit(0i32)));
    }
    let mut select: Vec<Expr> = LIST_COLUMNS.iter().map(|c| col(*c)).collect();
    select.push(key.alias("sort_key"));
    let mut df = scope
        .table("conferences")
        .await?
        .filter(filter)
        .and_then(|df| df.select(select))
        .map_err(QueryError::from_internal)?;
    if let Some(c) = &cursor {
        let k = col("sort_key");
        let beyond = if ascending {
            k.clone().gt(lit(c.key))
        } else {
            k.clone().lt(lit(c.key))
        };
        let tie = col("conference_id")
            .gt(lit(c.conference_id.clone()))
            .or(col("conference_id")
                .eq(lit(c.conference_id.clone()))
                .and(col("segment").gt(lit(c.segment))));
        df = df
            .filter(beyond.or(k.eq(lit(c.key)).and(tie)))
            .map_err(QueryError::from_internal)?;
    }
    let order: Vec<SortExpr> = vec![
        col("sort_key").sort(ascending, false),
        col("conference_id").sort(true, false),
        col("segment").sort(true, false),
    ];
    let df = df
        .sort(order)
        .and_then(|df| df.limit(0, Some(limit + 1)))
        .map_err(QueryError::from_internal)?;
    let result = scope.collect(df).await?;
    let mut rows = json::rows(&result.batches);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        match rows.last() {
            Some(last) => Some(
                Cursor {
                    sort,
                    key: num(last, "sort_key").unwrap_or(0.0),
                    conference_id: last
                        .get("conference_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    segment: i32::try_from(int(last, "segment")).unwrap_or(0),
                }
                .encode()?,
            ),
            None => None,
        }
    } else {
        None
    };
    for row in &mut rows {
        row.remove("sort_key");
    }
    Ok(ConferenceList {
        from,
        to,
        sort,
        conferences: rows,
        next_cursor,
    })
}

// ---------------------------------------------------------------------------------------------
// One conference

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualitySeries {
    /// The reporting user (whose receivers and senders measured these intervals).
    pub user_id: String,
    /// `track_quality` rows of this user, by `interval_start`, `connection_id`, `ssrc`.
    pub points: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConferenceDetail {
    pub conference_id: String,
    /// `conferences` rows (one per segment), by `segment`; empty while the conference is live.
    pub segments: Vec<Row>,
    /// `user_quality` rows, by `segment`, `user_id`.
    pub participants: Vec<Row>,
    /// `fabrics` rows, by `segment`, `created_at`, `connection_id`.
    pub fabrics: Vec<Row>,
    /// Per reporting user, by `user_id`.
    pub quality_timeline: Vec<QualitySeries>,
    /// `events` rows without `payload_json`, by `received_at`, `bus_partition`, `bus_offset`.
    pub events: Vec<Row>,
    /// `errors` rows, by `received_at`.
    pub errors: Vec<Row>,
    /// `feedback` rows, by `received_at`, `user_id`.
    pub feedback: Vec<Row>,
    /// Sections cut at the row limit.
    pub truncated: Vec<&'static str>,
}

/// Columns of a table without the partition columns and `conference_id` (all the same here).
fn detail_columns(table: &str, skip: &[&str]) -> Vec<Expr> {
    callscope_schemas::tables::schema(table)
        .map(|schema| {
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|n| !["app_id", "date", "conference_id"].contains(n) && !skip.contains(n))
                .map(col)
                .collect()
        })
        .unwrap_or_default()
}

pub async fn conference(
    scope: Scope,
    conference_id: String,
    range: Option<(i64, i64)>,
) -> Result<ConferenceDetail, QueryError> {
    let id = || col("conference_id").eq(lit(conference_id.clone()));
    let with_dates = |filter: Expr, dates: &Option<(String, String)>| match dates {
        Some((first, last)) => filter
            .and(col("date").gt_eq(lit(first.clone())))
            .and(col("date").lt_eq(lit(last.clone()))),
        None => filter,
    };
    let mut dates = range.map(|(from, to)| partition_dates(from, to));

    let segments = scope
        .table("conferences")
        .await?
        .filter(with_dates(id(), &dates))
        .and_then(|df| df.select(detail_columns("conferences", &[])))
        .and_then(|df| df.sort(vec![col("segment").sort(true, false)]))
        .map_err(QueryError::from_internal)?;
    let segments = scope.collect(segments).await?;
    let segment_rows = json::rows(&segments.batches);

    // Without a range, the conference's own times bound the other tables' partitions: from its
    // first start to its last event, or, while it is live, from its events.
    if dates.is_none() {
        let span = if segment_rows.is_empty() {
            let df = scope
                .table("events")
                .await?
                .filter(id())
                .and_then(|df| {
                    df.aggregate(
                        vec![],
                        vec![
                            datafusion::functions_aggregate::expr_fn::min(col("received_at"))
                                .alias("first"),
                            datafusion::functions_aggregate::expr_fn::max(col("received_at"))
                                .alias("last"),
                        ],
                    )
                })
                .map_err(QueryError::from_internal)?;
            let result = scope.collect(df).await?;
            json::rows(&result.batches).first().and_then(|row| {
                Some((
                    row.get("first").and_then(Value::as_i64)?,
                    row.get("last").and_then(Value::as_i64)?,
                ))
            })
        } else {
            let first = segment_rows
                .iter()
                .filter_map(|r| r.get("start_time").and_then(Value::as_i64))
                .min();
            let last = segment_rows
                .iter()
                .filter_map(|r| r.get("last_event_at").and_then(Value::as_i64))
                .max();
            first.zip(last)
        };
        let Some((first, last)) = span else {
            return Err(QueryError::NotFound(format!(
                "no conference {:?} in this app",
                conference_id.chars().take(256).collect::<String>()
            )));
        };
        dates = Some((utc_date(first - DAY_MS), utc_date(last + DAY_MS)));
    }

    let section = |table: &'static str, skip: &'static [&'static str], order: &[&str]| {
        let scope = scope.clone();
        let filter = with_dates(id(), &dates);
        let order: Vec<SortExpr> = order.iter().map(|c| col(*c).sort(true, false)).collect();
        async move {
            let df = scope
                .table(table)
                .await?
                .filter(filter)
                .and_then(|df| df.select(detail_columns(table, skip)))
                .and_then(|df| df.sort(order))
                .map_err(QueryError::from_internal)?;
            scope.collect(df).await
        }
    };
    let (participants, fabrics, quality, events, errors, feedback) = futures::try_join!(
        section("user_quality", &[], &["segment", "user_id"]),
        section("fabrics", &[], &["segment", "created_at", "connection_id"]),
        section(
            "track_quality",
            &[],
            &["user_id", "interval_start", "connection_id", "ssrc"]
        ),
        section(
            "events",
            &["payload_json"],
            &["received_at", "bus_partition", "bus_offset", "kind"]
        ),
        section("errors", &[], &["received_at", "connection_id", "kind"]),
        section("feedback", &[], &["received_at", "user_id"]),
    )?;

    if segment_rows.is_empty() && events.rows == 0 {
        return Err(QueryError::NotFound(format!(
            "no conference {:?} in this app",
            conference_id.chars().take(256).collect::<String>()
        )));
    }

    let mut truncated = Vec::new();
    for (name, result) in [
        ("segments", &segments),
        ("participants", &participants),
        ("fabrics", &fabrics),
        ("quality_timeline", &quality),
        ("events", &events),
        ("errors", &errors),
        ("feedback", &feedback),
    ] {
        if result.truncated {
            truncated.push(name);
        }
    }

    let mut quality_timeline: Vec<QualitySeries> = Vec::new();
    for mut row in json::rows(&quality.batches) {
        let user = match row.remove("user_id") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        match quality_timeline.last_mut() {
            Some(series) if series.user_id == user => series.points.push(row),
            _ => quality_timeline.push(QualitySeries {
                user_id: user,
                points: vec![row],
            }),
        }
    }

    Ok(ConferenceDetail {
        conference_id,
        segments: segment_rows,
        participants: json::rows(&participants.batches),
        fabrics: json::rows(&fabrics.batches),
        quality_timeline,
        events: json::rows(&events.batches),
        errors: json::rows(&errors.batches),
        feedback: json::rows(&feedback.batches),
        truncated,
    })
}

// ---------------------------------------------------------------------------------------------
// Live conferences

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveConference {
    pub conference_id: String,
    /// Within the window.
    pub first_event_at: i64,
    pub last_event_at: i64,
    pub events: i64,
    pub users: i64,
    pub connections: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub now: i64,
    pub window_secs: u64,
    /// Most recent activity first.
    pub conferences: Vec<LiveConference>,
    pub truncated: bool,
}

/// Conferences with events in the window and no `conferences` row covering them yet: the
/// processor writes that row when the conference (segment) ends, so an event newer than every
/// row of its conference belongs to a segment still in progress.
const LIVE: &str = "
WITH live AS (
    SELECT conference_id,
           MIN(received_at) AS first_event_at,
           MAX(received_at) AS last_event_at,
           COUNT(*) AS events,
           COUNT(DISTINCT user_id) AS users,
           COUNT(DISTINCT connection_id) AS connections
    FROM events
    WHERE received_at >= $1 AND date >= $2 AND NOT starts_with(conference_id, $3)
    GROUP BY conference_id
), closed AS (
    SELECT conference_id, MAX(last_event_at) AS closed_through
    FROM conferences
    WHERE last_event_at >= $1 AND date >= $4
    GROUP BY conference_id
)
SELECT live.conference_id, CAST(first_event_at AS BIGINT) AS first_event_at,
       CAST(last_event_at AS BIGINT) AS last_event_at, events, users, connections
FROM live LEFT JOIN closed ON live.conference_id = closed.conference_id
WHERE closed.closed_through IS NULL OR live.last_event_at > closed.closed_through
ORDER BY last_event_at DESC, conference_id ASC";

pub async fn live(scope: Scope, now: i64, window_secs: u64) -> Result<Live, QueryError> {
    let window_ms = i64::try_from(window_secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let since = now.saturating_sub(window_ms);
    let result = scope
        .sql(
            LIVE,
            vec![
                ts(since),
                text(&utc_date(since)),
                text(callscope_schemas::envelope::APP_LEVEL_CONFERENCE_PREFIX),
                // A long conference's row sits in the partition of its start.
                text(&utc_date(since - DAY_MS)),
            ],
        )
        .await?;
    let conferences = json::rows(&result.batches)
        .iter()
        .map(|r| LiveConference {
            conference_id: r
                .get("conference_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            first_event_at: int(r, "first_event_at"),
            last_event_at: int(r, "last_event_at"),
            events: int(r, "events"),
            users: int(r, "users"),
            connections: int(r, "connections"),
        })
        .collect();
    Ok(Live {
        now,
        window_secs,
        conferences,
        truncated: result.truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_hand() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[400.0, 850.0, 1200.0], 0.5), Some(850.0));
        assert_eq!(percentile(&[400.0, 850.0, 1200.0], 0.95), Some(1165.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 1.0), Some(4.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.0), Some(1.0));
    }

    #[test]
    fn selected_percentiles_are_the_sorted_ones() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in [0usize, 1, 2, 3, 4, 5, 10, 21, 100, 1_000] {
            let values: Vec<f64> = (0..n)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // duplicates, signed zeros, fractions
                    match i % 7 {
                        0 => 0.0,
                        1 => -0.0,
                        2 => (seed % 50) as f64,
                        _ => (seed % 100_000) as f64 / 7.0,
                    }
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for p in [0.0, 0.05, 0.5, 0.95, 0.99, 1.0] {
                let mut shuffled = values.clone();
                let want = percentile(&sorted, p);
                let got = select_percentile(&mut shuffled, p);
                assert_eq!(want.map(f64::to_bits), got.map(f64::to_bits), "n {n} p {p}");
            }
        }
        let mut v = vec![1200.0, 400.0, 850.0];
        assert_eq!(select_percentile(&mut v, 0.95), Some(1165.0));
        assert_eq!(select_percentile(&mut v, 0.5), Some(850.0));
    }

    #[test]
    fn the_pruning_condition_is_in_the_overview() {
        assert!(OVERVIEW_FABRICS.contains(
            "(created_at >= $1 OR created_at IS NULL) AND (created_at < $2 OR created_at IS NULL)"
        ));
        assert!(OVERVIEW_FABRICS.contains(FABRIC_TIME));
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let c = Cursor {
            sort: Sort::Recent,
            key: 1.7e12,
            conference_id: "conf/1".into(),
            segment: 2,
        };
        let text = c.encode().unwrap();
        assert_eq!(Cursor::decode(&text, Sort::Recent).unwrap(), c);
        assert!(Cursor::decode(&text, Sort::Failed).is_err());
        assert!(Cursor::decode("not base64!", Sort::Recent).is_err());
    }

    #[test]
    fn names_parse() {
        for d in Dimension::ALL {
            assert_eq!(Dimension::parse(d.as_str()).unwrap(), d);
        }
        assert!(Dimension::parse("country").is_err());
        for s in Sort::ALL {
            assert_eq!(Sort::parse(s.as_str()).unwrap(), s);
        }
        assert!(Sort::parse("best").is_err());
    }
}

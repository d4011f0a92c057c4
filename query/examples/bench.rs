//! Query benchmark: generates a lake of one million conferences of one app (conferences,
//! fabrics, user_quality and track_quality rows written directly as Parquet with the schemas of
//! `callscope_schemas::tables`, not through the processor), then times the dashboard endpoints
//! and three analyst SQL queries in process (the actix service of `callscope_query::app`, the
//! response cache off) and prints p50 / p99 per request.
//!
//! ```text
//! cargo run -p callscope-query --example bench -- generate DIR [--conferences N] [--days D]
//! cargo run -p callscope-query --example bench -- run DIR [--iterations N] [--only SUBSTRING]
//! ```
//! `scripts/bench-query` does both. The lake: `D` days (default 30) ending 2024-01-31, the
//! conferences spread evenly over them, one file per table and day (as after compaction), zstd,
//! row groups of 65 536 rows, page statistics, sorted by the tables' sort keys like the
//! processor's files. Per conference: 2 users, 2 fabrics (1 in 20 fails), 2 user_quality rows and
//! 4 track_quality rows (two 10 s audio intervals per direction). Values come from a fixed
//! xorshift sequence, so every run generates the same lake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::web;
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, ListBuilder, RecordBatch,
    StringArray, StringBuilder, TimestampMillisecondArray, new_null_array,
};
use callscope_ingest::registry::Registry;
use callscope_query::{QueryConfig, QueryState, app};
use callscope_schemas::tables;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde_json::{Value, json};

const APP: &str = "100001";
const DAY_MS: i64 = 86_400_000;
/// 2024-01-31T00:00:00Z: the lake's last day starts here.
const LAST_DAY: i64 = 1_706_659_200_000;

const BROWSERS: [&str; 5] = ["Chrome", "Chrome", "Firefox", "Safari", "Edge"];
const OS: [&str; 5] = ["Windows", "macOS", "Linux", "iOS", "Android"];
const VERSIONS: [&str; 4] = ["2.0", "2.1", "2.2", "2.3"];
const RELAY: [Option<&str>; 4] = [None, None, Some("udp"), Some("tcp")];
const REASONS: [(&str, &str); 3] = [
    ("IceConnectionFailure", "ice_nat"),
    ("NegotiationFailure", "signaling"),
    ("MediaConfigError", "media"),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn date(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Columns of one table, by name; the others are written as nulls.
#[derive(Default)]
struct Cols(Vec<(&'static str, ArrayRef)>);

impl Cols {
    fn s(&mut self, name: &'static str, v: Vec<Option<String>>) {
        self.0.push((name, Arc::new(StringArray::from(v))));
    }
    fn i32(&mut self, name: &'static str, v: Vec<Option<i32>>) {
        self.0.push((name, Arc::new(Int32Array::from(v))));
    }
    fn i64(&mut self, name: &'static str, v: Vec<Option<i64>>) {
        self.0.push((name, Arc::new(Int64Array::from(v))));
    }
    fn f(&mut self, name: &'static str, v: Vec<Option<f64>>) {
        self.0.push((name, Arc::new(Float64Array::from(v))));
    }
    fn b(&mut self, name: &'static str, v: Vec<Option<bool>>) {
        self.0.push((name, Arc::new(BooleanArray::from(v))));
    }
    fn t(&mut self, name: &'static str, v: Vec<Option<i64>>) {
        self.0.push((
            name,
            Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")),
        ));
    }
    fn list(&mut self, name: &'static str, v: Vec<Vec<&str>>) {
        let mut b = ListBuilder::new(StringBuilder::new());
        for items in v {
            for i in items {
                b.values().append_value(i);
            }
            b.append(true);
        }
        self.0.push((name, Arc::new(b.finish())));
    }

    fn write(self, root: &Path, table: &str, day: &str) -> u64 {
        let schema = tables::file_schema(&tables::schema(table).unwrap());
        let rows = self.0.first().map_or(0, |(_, a)| a.len());
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match self.0.iter().find(|(n, _)| *n == f.name()) {
                Some((_, a)) => a.clone(),
                None => {
                    assert!(f.is_nullable(), "{table}.{}: no value", f.name());
                    new_null_array(f.data_type(), rows)
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let dir = root
            .join(table)
            .join(format!("app_id={APP}"))
            .join(format!("date={day}"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench-0.parquet");
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
            .set_max_row_group_row_count(Some(65_536))
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(props))
                .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        std::fs::metadata(&path).unwrap().len()
    }
}

/// Generates one day's files of every table; returns the bytes written.
fn generate_day(root: &Path, day_index: i64, days: i64, per_day: usize) -> u64 {
    let day_start = LAST_DAY - (days - 1 - day_index) * DAY_MS;
    let day = date(day_start);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (day_index as u64 + 1));
    let n = per_day;
    let spacing = DAY_MS / n as i64;

    // conferences
    let (mut id, mut start, mut end, mut dur, mut last) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut fabrics_failed, mut fabrics_setup, mut status) = (vec![], vec![], vec![]);
    let (mut dmin, mut dmax, mut dmean, mut dmed) = (vec![], vec![], vec![], vec![]);
    let (mut mos, mut worst, mut worst_id, mut video) = (vec![], vec![], vec![], vec![]);
    let (mut fb_mean, mut fb_count, mut relay_share, mut browsers) =
        (vec![], vec![], vec![], vec![]);
    // fabrics
    let mut f = FabricCols::default();
    // user_quality
    let mut u = UserCols::default();
    // track_quality
    let mut q = TrackCols::default();

    for i in 0..n {
        let cid = format!("c{day_index:03}-{i:07}");
        let s = day_start + i as i64 * spacing + rng.below(spacing.max(1) as u64) as i64 / 2;
        let d = 60_000 + rng.below(3_600_000) as i64;
        let users = ["u-a", "u-b"];
        let b = [
            BROWSERS[rng.below(5) as usize],
            BROWSERS[rng.below(5) as usize],
        ];
        let failed = rng.below(20) == 0;
        let delays = [
            200.0 + (rng.below(1500) as f64),
            200.0 + (rng.below(1500) as f64),
        ];
        let relay = [RELAY[rng.below(4) as usize], RELAY[rng.below(4) as usize]];
        let user_mos = [1.5 + 3.0 * rng.unit(), 1.5 + 3.0 * rng.unit()];
        let user_video = [1.0 + 4.0 * rng.unit(), 1.0 + 4.0 * rng.unit()];
        let has_video = rng.below(2) == 0;
        let set_up: Vec<f64> = if failed {
            vec![delays[0]]
        } else {
            delays.to_vec()
        };
        let mut sorted = set_up.clone();
        sorted.sort_by(f64::total_cmp);
        id.push(Some(cid.clone()));
        start.push(Some(s));
        end.push(Some(s + d));
        dur.push(Some(d));
        last.push(Some(s + d));
        fabrics_setup.push(Some(set_up.len() as i32));
        fabrics_failed.push(Some(i32::from(failed)));
        status.push(Some(
            if failed {
                "partially_failed"
            } else {
                "success"
            }
            .to_owned(),
        ));
        dmin.push(Some(sorted[0]));
        dmax.push(Some(*sorted.last().unwrap()));
        let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
        dmean.push(Some(mean));
        dmed.push(Some(mean));
        mos.push(Some((user_mos[0] + user_mos[1]) / 2.0));
        let w = usize::from(user_mos[1] < user_mos[0]);
        worst.push(Some(user_mos[w]));
        worst_id.push(Some(users[w].to_owned()));
        video.push(has_video.then(|| (user_video[0] + user_video[1]) / 2.0));
        let feedback = rng.below(5) == 0;
        fb_mean.push(feedback.then(|| 1.0 + rng.below(5) as f64));
        fb_count.push(Some(i32::from(feedback)));
        let known: Vec<bool> = set_up
            .iter()
            .enumerate()
            .map(|(k, _)| relay[k].is_some())
            .collect();
        relay_share.push(Some(
            known.iter().filter(|r| **r).count() as f64 / known.len() as f64,
        ));
        let mut bs = vec![b[0], b[1]];
        bs.sort_unstable();
        bs.dedup();
        browsers.push(bs);

        for k in 0..2 {
            let ok = !(failed && k == 1);
            f.push(
                &cid,
                k,
                users,
                s + k as i64 * 50,
                delays[k],
                ok,
                relay[k],
                s + d,
                &mut rng,
            );
            u.push(
                &cid,
                k,
                users,
                b[k],
                s,
                d,
                user_mos[k],
                has_video.then_some(user_video[k]),
                &mut rng,
            );
            for j in 0..2 {
                q.push(
                    &cid,
                    k,
                    users,
                    s + 10_000 * (j as i64 + 1),
                    user_mos[1 - k],
                    &mut rng,
                );
            }
        }
    }

    let mut c = Cols::default();
    c.s("conference_id", id);
    c.i32("segment", vec![Some(0); n]);
    c.t("start_time", start);
    c.t("end_time", end);
    c.i64("duration_ms", dur);
    c.s("end_reason", vec![Some("all_left".to_owned()); n]);
    c.t("last_event_at", last);
    c.i32("users", vec![Some(2); n]);
    c.i32("fabrics", vec![Some(2); n]);
    c.i32("fabrics_setup", fabrics_setup);
    c.i32("fabrics_failed", fabrics_failed);
    c.s("setup_status", status);
    c.f("setup_delay_min_ms", dmin);
    c.f("setup_delay_max_ms", dmax);
    c.f("setup_delay_mean_ms", dmean);
    c.f("setup_delay_median_ms", dmed);
    c.f("mean_mos", mos);
    c.f("worst_user_mos", worst);
    c.s("worst_user_id", worst_id);
    c.f("mean_video_score", video);
    c.f("feedback_mean", fb_mean);
    c.i32("feedback_count", fb_count);
    c.f("relay_share", relay_share);
    c.list("browsers", browsers);
    let mut bytes = c.write(root, "conferences", &day);
    bytes += f.cols().write(root, "fabrics", &day);
    bytes += u.cols().write(root, "user_quality", &day);
    bytes += q.cols().write(root, "track_quality", &day);
    bytes
}

#[derive(Default)]
struct FabricCols {
    conf: Vec<Option<String>>,
    conn: Vec<Option<String>>,
    user: Vec<Option<String>>,
    remote: Vec<Option<String>>,
    created: Vec<Option<i64>>,
    setup_at: Vec<Option<i64>>,
    failed_at: Vec<Option<i64>>,
    delay: Vec<Option<f64>>,
    outcome: Vec<Option<String>>,
    reason: Vec<Option<String>>,
    category: Vec<Option<String>>,
    relayed: Vec<Option<bool>>,
    relay_protocol: Vec<Option<String>>,
    last: Vec<Option<i64>>,
}

impl FabricCols {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        cid: &str,
        k: usize,
        users: [&str; 2],
        created: i64,
        delay: f64,
        ok: bool,
        relay: Option<&str>,
        last: i64,
        rng: &mut Rng,
    ) {
        self.conf.push(Some(cid.to_owned()));
        self.conn.push(Some(format!("pc-{k}")));
        self.user.push(Some(users[k].to_owned()));
        self.remote.push(Some(users[1 - k].to_owned()));
        self.created.push(Some(created));
        self.delay.push(Some(delay));
        self.last.push(Some(last));
        if ok {
            self.setup_at.push(Some(created + delay as i64));
            self.failed_at.push(None);
            self.outcome.push(Some("setup".to_owned()));
            self.reason.push(None);
            self.category.push(None);
            self.relayed.push(Some(relay.is_some()));
            self.relay_protocol.push(relay.map(str::to_owned));
        } else {
            let (r, c) = REASONS[rng.below(3) as usize];
            self.setup_at.push(None);
            self.failed_at.push(Some(created + delay as i64));
            self.outcome.push(Some("failed".to_owned()));
            self.reason.push(Some(r.to_owned()));
            self.category.push(Some(c.to_owned()));
            self.relayed.push(None);
            self.relay_protocol.push(None);
        }
    }

    fn cols(self) -> Cols {
        let n = self.conf.len();
        let mut c = Cols::default();
        c.s("conference_id", self.conf);
        c.i32("segment", vec![Some(0); n]);
        c.s("connection_id", self.conn);
        c.s("user_id", self.user);
        c.s("remote_user_id", self.remote);
        c.t("created_at", self.created);
        c.t("setup_at", self.setup_at);
        c.t("failed_at", self.failed_at);
        c.f("setup_delay_ms", self.delay);
        c.s("outcome", self.outcome);
        c.s("failure_reason", self.reason);
        c.s("failure_category", self.category);
        c.b("relayed", self.relayed);
        c.s("relay_protocol", self.relay_protocol);
        c.i32("ice_restarts", vec![Some(0); n]);
        c.i32("disruptions", vec![Some(0); n]);
        c.i32("transport_changes", vec![Some(0); n]);
        c.b("dropped", vec![Some(false); n]);
        c.t("last_event_at", self.last);
        c
    }
}

#[derive(Default)]
struct UserCols {
    conf: Vec<Option<String>>,
    user: Vec<Option<String>>,
    browser: Vec<Option<String>>,
    os: Vec<Option<String>>,
    version: Vec<Option<String>>,
    joined: Vec<Option<i64>>,
    left: Vec<Option<i64>>,
    duration: Vec<Option<i64>>,
    mos: Vec<Option<f64>>,
    video: Vec<Option<f64>>,
    loss: Vec<Option<f64>>,
}

impl UserCols {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        cid: &str,
        k: usize,
        users: [&str; 2],
        browser: &str,
        start: i64,
        duration: i64,
        mos: f64,
        video: Option<f64>,
        rng: &mut Rng,
    ) {
        self.conf.push(Some(cid.to_owned()));
        self.user.push(Some(users[k].to_owned()));
        self.browser.push(Some(browser.to_owned()));
        self.os.push(Some(OS[rng.below(5) as usize].to_owned()));
        self.version
            .push(Some(VERSIONS[rng.below(4) as usize].to_owned()));
        self.joined.push(Some(start));
        self.left.push(Some(start + duration));
        self.duration.push(Some(duration));
        self.mos.push(Some(mos));
        self.video.push(video);
        self.loss.push(Some(5.0 * rng.unit()));
    }

    fn cols(self) -> Cols {
        let n = self.conf.len();
        let mut c = Cols::default();
        c.s("conference_id", self.conf);
        c.i32("segment", vec![Some(0); n]);
        c.s("user_id", self.user);
        c.s("endpoint_type", vec![Some("browser".to_owned()); n]);
        c.s("browser", self.browser);
        c.s("os", self.os);
        c.s("app_version", self.version);
        c.t("joined_at", self.joined);
        c.t("left_at", self.left);
        c.i64("duration_ms", self.duration);
        c.i64("measured_ms", vec![Some(20_000); n]);
        c.f("mean_mos", self.mos);
        c.f("mean_video_score", self.video);
        c.f("mean_loss_pct", self.loss);
        c
    }
}

#[derive(Default)]
struct TrackCols {
    conf: Vec<Option<String>>,
    conn: Vec<Option<String>>,
    user: Vec<Option<String>>,
    assoc: Vec<Option<String>>,
    ssrc: Vec<Option<i64>>,
    start: Vec<Option<i64>>,
    loss: Vec<Option<f64>>,
    jitter: Vec<Option<f64>>,
    rtt: Vec<Option<f64>>,
    bitrate: Vec<Option<f64>>,
    mos: Vec<Option<f64>>,
    band: Vec<Option<String>>,
}

impl TrackCols {
    fn push(&mut self, cid: &str, k: usize, users: [&str; 2], start: i64, mos: f64, rng: &mut Rng) {
        self.conf.push(Some(cid.to_owned()));
        self.conn.push(Some(format!("pc-{k}")));
        self.user.push(Some(users[k].to_owned()));
        self.assoc.push(Some(users[1 - k].to_owned()));
        self.ssrc.push(Some(1000 + k as i64));
        self.start.push(Some(start));
        self.loss.push(Some(5.0 * rng.unit()));
        self.jitter.push(Some(30.0 * rng.unit()));
        self.rtt.push(Some(10.0 + 200.0 * rng.unit()));
        self.bitrate.push(Some(20_000.0 + 40_000.0 * rng.unit()));
        self.mos.push(Some(mos));
        let band = if mos >= 4.339 {
            "excellent"
        } else if mos >= 4.024 {
            "good"
        } else if mos >= 3.597 {
            "fair"
        } else if mos >= 3.1 {
            "poor"
        } else {
            "bad"
        };
        self.band.push(Some(band.to_owned()));
    }

    fn cols(self) -> Cols {
        let n = self.conf.len();
        let ends = self.start.iter().map(|s| s.map(|s| s + 10_000)).collect();
        let mut c = Cols::default();
        c.s("conference_id", self.conf);
        c.i32("segment", vec![Some(0); n]);
        c.s("connection_id", self.conn);
        c.s("user_id", self.user);
        c.s("associated_user_id", self.assoc);
        c.i64("ssrc", self.ssrc);
        c.s("media_kind", vec![Some("audio".to_owned()); n]);
        c.s("direction", vec![Some("inbound".to_owned()); n]);
        c.t("interval_start", self.start);
        c.t("interval_end", ends);
        c.b("after_gap", vec![Some(false); n]);
        c.f("loss_pct", self.loss);
        c.f("jitter_ms", self.jitter);
        c.f("rtt_ms", self.rtt);
        c.f("bitrate_bps", self.bitrate);
        c.f("mos", self.mos);
        c.s("band", self.band);
        c
    }
}

fn generate(root: &Path, conferences: usize, days: i64) {
    let started = Instant::now();
    let per_day = conferences.div_ceil(days as usize);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicI64::new(0);
    let bytes = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let d = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if d >= days {
                        break;
                    }
                    let b = generate_day(root, d, days, per_day);
                    bytes.fetch_add(b, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let total = per_day * days as usize;
    println!(
        "generated {total} conferences ({} fabrics, {} user_quality, {} track_quality rows) over {days} days in {} ({:.1} s, {:.0} MiB)",
        2 * total,
        2 * total,
        4 * total,
        root.display(),
        started.elapsed().as_secs_f64(),
        bytes.into_inner() as f64 / 1_048_576.0
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(root: &Path, iterations: usize, only: Option<&str>) {
    let registry = Registry::in_memory(Vec::new());
    registry.add("bench", Some(APP)).unwrap();
    let key = registry.add_query_key(APP).unwrap();
    let config = QueryConfig {
        lake: root.display().to_string(),
        limits: callscope_query::QueryLimits {
            cache_ttl_ms: 0,
            timeout_ms: 120_000,
            ..Default::default()
        },
        ..QueryConfig::default()
    };
    let state = web::Data::new(QueryState::new(config, registry).unwrap());
    let service = init_service(app(state)).await;

    let day = |d: i64| LAST_DAY - d * DAY_MS;
    let last24 = format!("from={}&to={}", day(0), day(-1));
    let last7 = format!("from={}&to={}", day(6), day(-1));
    let last30 = format!("from={}&to={}", day(29), day(-1));
    let get = |name: &str, uri: String| (name.to_owned(), uri, None::<Value>);
    let sql = |name: &str, text: &str| {
        (
            name.to_owned(),
            "/api/v1/sql".to_owned(),
            Some(json!({"sql": text})),
        )
    };
    let cases = vec![
        get("overview 24h", format!("/api/v1/overview?{last24}")),
        get("overview 7d", format!("/api/v1/overview?{last7}")),
        get(
            "overview 30d (1M conferences)",
            format!("/api/v1/overview?{last30}"),
        ),
        get(
            "breakdown browser 24h",
            format!("/api/v1/breakdown/browser?{last24}"),
        ),
        get(
            "breakdown browser 7d",
            format!("/api/v1/breakdown/browser?{last7}"),
        ),
        get(
            "breakdown relay_type 7d",
            format!("/api/v1/breakdown/relay_type?{last7}"),
        ),
        get(
            "conferences recent 24h",
            format!("/api/v1/conferences?{last24}"),
        ),
        get(
            "conferences worst_quality 7d",
            format!("/api/v1/conferences?{last7}&sort=worst_quality"),
        ),
        get(
            "conferences failed 30d",
            format!("/api/v1/conferences?{last30}&sort=failed"),
        ),
        sql(
            "SQL 1: setup status per day, 30d",
            "SELECT date, setup_status, count(*) AS n, avg(setup_delay_median_ms) AS delay \
             FROM conferences WHERE date >= '2024-01-02' GROUP BY date, setup_status ORDER BY date, setup_status",
        ),
        sql(
            "SQL 2: MOS by browser and OS (join), 7d",
            "SELECT u.browser, u.os, count(*) AS users, avg(u.mean_mos) AS mos, \
             avg(c.setup_delay_max_ms) AS max_delay FROM user_quality u JOIN conferences c \
             ON u.conference_id = c.conference_id AND u.date = c.date \
             WHERE u.date >= '2024-01-25' GROUP BY 1, 2 ORDER BY mos",
        ),
        sql(
            "SQL 3: worst 20 conferences by p95 interval loss, 1 day of track_quality",
            "SELECT conference_id, approx_percentile_cont(loss_pct, 0.95) AS p95_loss, \
             avg(rtt_ms) AS rtt FROM track_quality WHERE date = '2024-01-31' \
             GROUP BY conference_id ORDER BY p95_loss DESC, conference_id LIMIT 20",
        ),
    ];
    println!(
        "{:<72} {:>9} {:>9} {:>9}  rows/answer",
        "request", "p50 ms", "p99 ms", "max ms"
    );
    for (name, uri, body) in cases {
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let mut times = Vec::with_capacity(iterations);
        let mut summary = String::new();
        for i in 0..iterations + 2 {
            let req = match &body {
                None => TestRequest::get().uri(&uri),
                Some(b) => TestRequest::post().uri(&uri).set_json(b),
            }
            .insert_header(("Authorization", format!("Bearer {key}")))
            .to_request();
            let t = Instant::now();
            let response = call_service(&service, req).await;
            let status = response.status();
            let bytes = read_body(response).await;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(
                status.is_success(),
                "{name}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
            if i >= 2 {
                // the first two are warm-up (footer and statistics caches)
                times.push(ms);
            }
            if i == 0 {
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                summary = match (&v["series"], &v["rows"], &v["conferences"], &v["totals"]) {
                    (Value::Array(s), _, _, t) => {
                        format!("{} buckets, {} conferences", s.len(), t["conferences"])
                    }
                    (_, Value::Array(r), _, _) => format!("{} rows", r.len()),
                    (_, _, Value::Array(c), _) => format!("{} conferences", c.len()),
                    _ => String::new(),
                };
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<72} {:>9.1} {:>9.1} {:>9.1}  {summary}",
            name,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(0.0)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let usage = "usage: bench generate DIR [--conferences N] [--days D] | bench run DIR [--iterations N] [--only SUBSTRING]";
    let (Some(command), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let root = PathBuf::from(dir);
    match command.as_str() {
        "generate" => generate(
            &root,
            flag("--conferences", 1_000_000),
            flag("--days", 30) as i64,
        ),
        "run" => {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            println!(
                "lake {}, {threads} cores, dev profile unless built otherwise",
                root.display()
            );
            let only = args
                .iter()
                .position(|a| a == "--only")
                .and_then(|i| args.get(i + 1));
            actix_web::rt::System::new().block_on(run(
                &root,
                flag("--iterations", 30),
                only.map(String::as_str),
            ));
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

//! `callscope import`: replays rtcstats dump files through the pipeline.
//!
//! Each file is converted ([`convert::convert`]) into the events the callscope SDK would have sent
//! for that participant, then sent in order either through ingest's batch endpoint, exactly as
//! `callscope simulate` does (AppSecret handshake, Retry-After on 429/503, re-authentication on
//! 401), or with `--direct` straight onto the bus as envelopes (`origin: import`, received at the
//! event's dump time so a replay keeps call time). Batches hold at most [`MAX_BATCH_EVENTS`]
//! events and [`MAX_BATCH_BYTES`] bytes. Malformed lines are reported (`file:line: why`) and
//! skipped; an unreadable file stops the import with an error naming it.

pub mod convert;
pub mod delta;

#[cfg(test)]
mod conformance;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context as _;
use callscope_bus::{Bus, BusError, DEAD_LETTER_TOPIC, INGEST_TOPIC, Producer};
use callscope_schemas::{Envelope, Origin};

use convert::ImportEvent;

/// Most events in one batch request (ingest takes up to 500 by default).
pub const MAX_BATCH_EVENTS: usize = 200;
/// Largest batch request body (ingest takes up to 1 MiB by default).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// rtcstats dump files (one JSON array per line).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Base URL of the ingest API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The app the calls are imported into.
    #[arg(long, env = "CALLSCOPE_APP_ID")]
    pub app_id: Option<String>,
    /// Its AppSecret (not needed with --direct).
    // A base64url secret may begin with "-": without this clap takes it for a flag.
    #[arg(
        long,
        env = "CALLSCOPE_APP_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub app_secret: Option<String>,
    /// Write the events straight onto the bus (Kafka with --kafka, else the embedded log under
    /// --data-dir, which ingest must not have open) instead of through ingest.
    #[arg(long)]
    pub direct: bool,
    /// Put every file in this conference (one participant per dump) instead of `import-<file stem>`.
    #[arg(long)]
    pub conference_id: Option<String>,
    /// Convert and validate only; send nothing.
    #[arg(long, conflicts_with = "direct")]
    pub dry_run: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// What was read, converted, sent and acknowledged.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub files: usize,
    pub lines: u64,
    /// Lines that were not well-formed dump lines (reported and skipped).
    pub malformed_lines: u64,
    /// Well-formed lines that make no event (SDP, candidates, unknown methods, ...).
    pub ignored_lines: u64,
    /// Converted events that failed validation and were not sent.
    pub invalid_events: u64,
    /// Batches written (HTTP requests or bus records).
    pub batches: u64,
    pub converted: BTreeMap<String, u64>,
    pub sent: BTreeMap<String, u64>,
    pub acknowledged: BTreeMap<String, u64>,
    /// Events refused, by reason (`HTTP 422`, `bus: too large`).
    pub refused: BTreeMap<String, u64>,
}

enum Sink {
    DryRun {
        app_id: String,
    },
    Http {
        client: crate::simulate::Client,
    },
    Bus {
        app_id: String,
        producer: Arc<dyn Producer>,
        /// Kept open while the producer writes.
        _bus: Arc<dyn Bus>,
    },
}

impl Sink {
    fn app_id(&self) -> &str {
        match self {
            Sink::DryRun { app_id } | Sink::Bus { app_id, .. } => app_id,
            Sink::Http { client } => &client.app_id,
        }
    }

    fn mode(&self) -> &'static str {
        match self {
            Sink::DryRun { .. } => "dry run (nothing sent)",
            Sink::Http { .. } => "through ingest",
            Sink::Bus { .. } => "straight onto the bus",
        }
    }
}

pub async fn run(args: ImportArgs, config: &crate::config::Config) -> anyhow::Result<()> {
    // Fail before sending anything when a file cannot be read at all.
    for path in &args.files {
        std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    }
    if let Some(id) = &args.conference_id {
        anyhow::ensure!(
            !id.trim().is_empty()
                && id.len() <= callscope_schemas::limits::CONFERENCE_ID_MAX_BYTES
                && !id.chars().any(char::is_control),
            "--conference-id must be 1 to {} bytes without control characters",
            callscope_schemas::limits::CONFERENCE_ID_MAX_BYTES
        );
    }
    let sink = open_sink(&args, config).await?;
    let mut report = Report::default();
    let mut outcome = Ok(());
    for path in &args.files {
        if let Err(e) = import_file(path, &args, &sink, &mut report).await {
            outcome = Err(e);
            break;
        }
    }
    if let Sink::Bus { producer, .. } = &sink {
        producer
            .flush(Duration::from_secs(30))
            .await
            .context("flushing the bus producer")?;
    }
    print(&report, sink.mode());
    outcome
}

async fn open_sink(args: &ImportArgs, config: &crate::config::Config) -> anyhow::Result<Sink> {
    if args.dry_run {
        return Ok(Sink::DryRun {
            app_id: args.app_id.clone().unwrap_or_else(|| "import".to_owned()),
        });
    }
    let app_id = args
        .app_id
        .clone()
        .context("--app-id (or CALLSCOPE_APP_ID) is required")?;
    if args.direct {
        let bus = crate::open_bus(config).with_context(|| match config.bus.kafka {
            Some(_) => "--direct: opening the Kafka bus".to_owned(),
            None => format!(
                "--direct writes to the embedded log itself: stop the ingest service (or `callscope up`) using {}, or import through ingest without --direct",
                config.data_dir.display()
            ),
        })?;
        bus.ensure_topics(&[
            (INGEST_TOPIC, config.bus.partitions),
            (DEAD_LETTER_TOPIC, 1),
        ])
        .await
        .context("creating topics")?;
        let producer = bus.producer()?;
        return Ok(Sink::Bus {
            app_id,
            producer,
            _bus: bus,
        });
    }
    let secret = args.app_secret.clone().context(
        "--app-secret (or CALLSCOPE_APP_SECRET) is required to send through ingest; --direct writes to the bus without it",
    )?;
    Ok(Sink::Http {
        client: crate::simulate::Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: args.url.trim_end_matches('/').to_owned(),
            app_id,
            secret,
            retries: AtomicU64::new(0),
        },
    })
}

/// A ucID that is the same for one user in one conference on every run (and in both modes), so a
/// re-import lands under the same participant session.
pub fn uc_id_for(conference_id: &str, user_id: &str) -> String {
    let fnv = |seed: u64| {
        let mut hash = seed;
        for byte in conference_id
            .bytes()
            .chain(std::iter::once(0))
            .chain(user_id.bytes())
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    )
}

/// The envelope ingest would write for `event` (origin `import`, received at its dump time).
pub fn envelope_for(
    app_id: &str,
    conference_id: &str,
    uc_id: &str,
    user_id: &str,
    event: &ImportEvent,
) -> Envelope {
    let at = if event.timestamp_ms.is_finite() {
        event.timestamp_ms.round().max(0.0) as i64
    } else {
        0
    };
    let mut envelope = Envelope::new(
        app_id,
        conference_id,
        at,
        Origin::Import,
        event.payload.clone(),
    );
    envelope.uc_id = Some(uc_id.to_owned());
    envelope.user_id = Some(user_id.to_owned());
    envelope.client_ts_ms = Some(at);
    envelope
}

/// Splits events of the given serialized sizes into consecutive batches of at most
/// `max_events` events and `max_bytes` bytes (`overhead` is the body without events); an event
/// larger than that on its own goes alone.
pub fn split_batches(
    sizes: &[usize],
    overhead: usize,
    max_events: usize,
    max_bytes: usize,
) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = overhead;
    for (i, size) in sizes.iter().enumerate() {
        let separator = usize::from(i > start);
        let full = i - start >= max_events || bytes + separator + size > max_bytes;
        if i > start && full {
            batches.push(start..i);
            start = i;
            bytes = overhead;
        }
        bytes += usize::from(i > start) + size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

/// The batch request body from already serialized events.
fn batch_body(uc_id_json: &str, events: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 64);
    body.extend_from_slice(b"{\"ucID\":");
    body.extend_from_slice(uc_id_json.as_bytes());
    body.extend_from_slice(b",\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.extend_from_slice(b"]}");
    body
}

fn progress_bar(path: &Path, lines: usize, quiet: bool) -> indicatif::ProgressBar {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(lines as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {bar:40} {pos}/{len} lines {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(path.display().to_string());
    bar
}

fn count(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    *map.entry(key.to_owned()).or_default() += n;
}

async fn import_file(
    path: &Path,
    args: &ImportArgs,
    sink: &Sink,
    report: &mut Report,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let conversion = convert::convert(&text, &convert::fallback_user_id_for(path));
    drop(bytes);
    let conference_id = args
        .conference_id
        .clone()
        .unwrap_or_else(|| convert::conference_id_for(path));
    let user_id = conversion.user_id.clone();
    let uc_id = uc_id_for(&conference_id, &user_id);
    let bar = progress_bar(path, conversion.lines, args.quiet);
    let shown = path.display();
    for e in &conversion.errors {
        bar.suspend(|| eprintln!("{shown}:{}: {}", e.line, e.message));
    }
    report.files += 1;
    report.lines += conversion.lines as u64;
    report.malformed_lines += conversion.errors.len() as u64;
    report.ignored_lines += conversion.ignored as u64;

    // Validate every event as ingest would, and serialize it once.
    let app_id = sink.app_id();
    let mut events: Vec<&ImportEvent> = Vec::with_capacity(conversion.events.len());
    let mut serialized: Vec<Vec<u8>> = Vec::with_capacity(conversion.events.len());
    for event in &conversion.events {
        let kind = event.kind().as_str();
        count(&mut report.converted, kind, 1);
        let checked = event
            .batch_item()
            .map_err(|e| e.to_string())
            .and_then(|item| {
                item.payload(0).map_err(|e| e.to_string())?;
                envelope_for(app_id, &conference_id, &uc_id, &user_id, event)
                    .validate()
                    .map_err(|e| e.to_string())?;
                serde_json::to_vec(&item).map_err(|e| e.to_string())
            });
        match checked {
            Ok(bytes) => {
                events.push(event);
                serialized.push(bytes);
            }
            Err(why) => {
                report.invalid_events += 1;
                bar.suspend(|| eprintln!("{shown}:{}: {kind} not sent: {why}", event.line));
            }
        }
    }
    let uc_id_json = serde_json::to_string(&uc_id)?;
    let overhead = batch_body(&uc_id_json, &[]).len();
    let sizes: Vec<usize> = serialized.iter().map(Vec::len).collect();
    let batches = split_batches(&sizes, overhead, MAX_BATCH_EVENTS, MAX_BATCH_BYTES);

    let mut token = match sink {
        Sink::Http { client } => Some(client.handshake(&user_id).await.with_context(|| {
            format!(
                "{shown}: authenticating user {user_id:?} of app {}",
                client.app_id
            )
        })?),
        _ => None,
    };
    for range in batches {
        let batch = &events[range.clone()];
        let first_line = batch.first().map_or(0, |e| e.line);
        let last_line = batch.last().map_or(0, |e| e.line);
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        for e in batch {
            *kinds.entry(e.kind().as_str()).or_default() += 1;
        }
        report.batches += 1;
        let refused: Option<String> = match sink {
            Sink::DryRun { .. } => None,
            Sink::Http { client } => {
                for (k, n) in &kinds {
                    count(&mut report.sent, k, *n);
                }
                let body = batch_body(&uc_id_json, &serialized[range.clone()]);
                let token = token.get_or_insert_with(String::new);
                let status = client
                    .send(&conference_id, token, &user_id, &body)
                    .await
                    .with_context(|| {
                        format!(
                            "{shown}: sending lines {first_line}-{last_line} to {}",
                            client.base
                        )
                    })?;
                (!(200..300).contains(&status)).then(|| format!("HTTP {status}"))
            }
            Sink::Bus { producer, .. } => {
                for (k, n) in &kinds {
                    count(&mut report.sent, k, *n);
                }
                let envelopes: Vec<Envelope> = batch
                    .iter()
                    .map(|e| envelope_for(app_id, &conference_id, &uc_id, &user_id, e))
                    .collect();
                write_record(producer.as_ref(), &envelopes)
                    .await
                    .with_context(|| {
                        format!("{shown}: writing lines {first_line}-{last_line} to the bus")
                    })?
            }
        };
        match refused {
            None if matches!(sink, Sink::DryRun { .. }) => {}
            None => {
                for (k, n) in &kinds {
                    count(&mut report.acknowledged, k, *n);
                }
            }
            Some(reason) => {
                count(&mut report.refused, &reason, batch.len() as u64);
                bar.suspend(|| {
                    eprintln!(
                        "{shown}:{first_line}-{last_line}: a batch of {} events was refused: {reason}",
                        batch.len()
                    )
                });
            }
        }
        bar.set_position(last_line as u64);
    }
    bar.set_position(conversion.lines as u64);
    bar.finish_with_message(format!("{} events", events.len()));
    Ok(())
}

/// Writes one batch as one bus record; `Ok(Some(reason))` when the bus refuses this record for
/// good but later ones may pass (too large), `Err` when the bus is unusable.
async fn write_record(
    producer: &dyn Producer,
    envelopes: &[Envelope],
) -> anyhow::Result<Option<String>> {
    let Some(first) = envelopes.first() else {
        return Ok(None);
    };
    let bytes = callscope_schemas::encode_record(envelopes)?;
    let key = first.bus_key();
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match producer
            .send(INGEST_TOPIC, key.as_bytes(), &bytes, &[])
            .await
        {
            Ok(_) => return Ok(None),
            Err(BusError::TooLarge { size, max }) => {
                return Ok(Some(format!("bus: {size} bytes exceed {max}")));
            }
            Err(e) if e.is_retriable() && attempt < 8 => {
                tracing::debug!(error = %e, attempt, "bus write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn print(report: &Report, mode: &str) {
    println!("import {mode}");
    println!("files:              {}", report.files);
    println!(
        "lines:              {} ({} malformed, skipped; {} without events)",
        report.lines, report.malformed_lines, report.ignored_lines
    );
    if report.invalid_events > 0 {
        println!(
            "events not sent:    {} (failed validation)",
            report.invalid_events
        );
    }
    println!("batches:            {}", report.batches);
    println!(
        "{:<24} {:>10} {:>10} {:>13}",
        "event kind", "converted", "sent", "acknowledged"
    );
    for (kind, n) in &report.converted {
        let sent = report.sent.get(kind).copied().unwrap_or(0);
        let acked = report.acknowledged.get(kind).copied().unwrap_or(0);
        println!("{kind:<24} {n:>10} {sent:>10} {acked:>13}");
    }
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    println!(
        "{:<24} {:>10} {:>10} {:>13}",
        "total",
        total(&report.converted),
        total(&report.sent),
        total(&report.acknowledged)
    );
    for (reason, n) in &report.refused {
        println!("refused ({reason}): {n} events");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_size_and_keep_order() {
        // 450 small events: 200 + 200 + 50.
        let sizes = vec![10; 450];
        let b = split_batches(&sizes, 20, 200, 1_000_000);
        assert_eq!(b, vec![0..200, 200..400, 400..450]);
        // Size bound: overhead 10, each 30 bytes + comma: 10 + 30 + 3·31 = 133 ≤ 140, a 5th would be 164.
        let b = split_batches(&[30; 9], 10, 200, 140);
        assert_eq!(b, vec![0..4, 4..8, 8..9]);
        // An oversized event goes alone, neighbours are not merged into it.
        let b = split_batches(&[10, 500, 10, 10], 10, 200, 100);
        assert_eq!(b, vec![0..1, 1..2, 2..4]);
        assert!(split_batches(&[], 10, 200, 100).is_empty());
        // Every batch of a real-looking split is within both limits.
        let sizes: Vec<usize> = (0..1000).map(|i| 100 + (i * 7919) % 40_000).collect();
        let batches = split_batches(&sizes, 50, MAX_BATCH_EVENTS, MAX_BATCH_BYTES);
        let mut next = 0;
        for r in &batches {
            assert_eq!(r.start, next, "in order, nothing skipped");
            next = r.end;
            let bytes = 50 + sizes[r.clone()].iter().sum::<usize>() + r.len() - 1;
            assert!(r.len() <= MAX_BATCH_EVENTS);
            assert!(bytes <= MAX_BATCH_BYTES || r.len() == 1, "{bytes}");
        }
        assert_eq!(next, sizes.len());
    }

    #[test]
    fn batch_bodies_are_batch_requests() {
        let item = callscope_schemas::BatchItem::new(
            callscope_schemas::EventKind::UserLeft,
            Some(5.0),
            &serde_json::json!({}),
        )
        .expect("an item");
        let one = serde_json::to_vec(&item).expect("item");
        let uc = serde_json::to_string("uc\"1").expect("uc");
        let body = batch_body(&uc, &[one.clone(), one]);
        let request: callscope_schemas::BatchRequest =
            callscope_schemas::batch::decode_json(&body).expect("a valid batch body");
        assert_eq!(request.uc_id.as_deref(), Some("uc\"1"));
        assert_eq!(request.events, vec![item.clone(), item]);
        assert_eq!(batch_body(&uc, &[]).len(), 21 + uc.len());
    }

    #[test]
    fn uc_ids_are_stable_and_distinct() {
        let a = uc_id_for("import-x", "alice");
        assert_eq!(a, uc_id_for("import-x", "alice"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, uc_id_for("import-x", "bob"));
        assert_ne!(uc_id_for("ab", "c"), uc_id_for("a", "bc"));
    }

    #[test]
    fn direct_envelopes_keep_dump_time_and_validate() {
        let conversion = convert::convert(
            "[\"create\",\"PC_0\",{},1600000000000]\n[\"close\",\"PC_0\",{},1600000001234.6]",
            "rtcstats-t",
        );
        for e in &conversion.events {
            let env = envelope_for("app", "import-t", "uc", &conversion.user_id, e);
            env.validate().expect("valid");
            assert_eq!(env.origin, Origin::Import);
            assert_eq!(env.received_at_ms, env.client_ts_ms.unwrap_or(-1));
        }
        let last = conversion.events.last().expect("events");
        assert_eq!(
            envelope_for("app", "c", "uc", "u", last).received_at_ms,
            1_600_000_001_235
        );
    }
}

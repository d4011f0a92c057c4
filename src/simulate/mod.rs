//! `callscope simulate`: drives planned conferences through the public HTTP API exactly as the browser SDK
//! does: the AppSecret handshake per participant, then batches of events and stats samples, honouring
//! Retry-After on 429/503 and re-authenticating on 401. Prints what was sent and what was acknowledged.

pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::json;

use plan::{ConferencePlan, Profile, Shape};

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Base URL of the ingest API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, env = "CALLSCOPE_APP_ID")]
    pub app_id: String,
    // A base64url secret may begin with "-": without this clap takes it for a flag.
    #[arg(
        long,
        env = "CALLSCOPE_APP_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub app_secret: String,
    /// Number of conferences.
    #[arg(long, default_value_t = 10)]
    pub conferences: usize,
    /// Conferences in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Participants per conference (a full mesh of PeerConnections).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=16))]
    pub participants: u16,
    /// Length of each call, seconds of call time.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// getStats period, seconds (callstats.js polled every 10 s).
    #[arg(long, default_value_t = 10)]
    pub stats_interval: u64,
    /// Network profiles, used round-robin over the conferences.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "good")]
    pub profiles: Vec<Profile>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Send in real time (a 60 s call takes 60 s) instead of as fast as the server acknowledges.
    #[arg(long)]
    pub realtime: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What was sent and what the server said.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Report {
    pub conferences: usize,
    pub participants: usize,
    pub requests: u64,
    pub acknowledged_requests: u64,
    pub retries: u64,
    /// Refused for good (4xx other than 401/429, or retries exhausted), by status.
    pub refused: BTreeMap<u16, u64>,
    /// Acknowledged events by kind (`stats_sample` are the samples).
    pub acknowledged: BTreeMap<String, u64>,
    pub bytes_sent: u64,
    pub elapsed_ms: u64,
    /// Latency of acknowledged requests (send to 2xx, retries included), milliseconds.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    #[serde(skip)]
    latencies_us: Vec<u64>,
}

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) app_id: String,
    pub(crate) secret: String,
    pub(crate) retries: AtomicU64,
}

const MAX_ATTEMPTS: u32 = 8;

impl Client {
    pub(crate) async fn handshake(&self, user: &str) -> anyhow::Result<String> {
        let challenge: serde_json::Value = self
            .http
            .post(format!("{}/v1/auth/challenge", self.base))
            .json(&json!({"appID": self.app_id, "userID": user}))
            .send()
            .await?
            .error_for_status()
            .context("challenge refused")?
            .json()
            .await?;
        let challenge = challenge["challenge"]
            .as_str()
            .context("no challenge in the answer")?
            .to_owned();
        let response = callscope_ingest::challenge_response(&self.secret, &challenge);
        let token: serde_json::Value = self
            .http
            .post(format!("{}/v1/auth/response", self.base))
            .json(&json!({"challenge": challenge, "response": response}))
            .send()
            .await?
            .error_for_status()
            .context("handshake refused: is the AppSecret right?")?
            .json()
            .await?;
        Ok(token["access_token"]
            .as_str()
            .context("no token in the answer")?
            .to_owned())
    }

    /// Sends one batch until it is acknowledged or refused for good; returns the final status.
    pub(crate) async fn send(
        &self,
        conference: &str,
        token: &mut String,
        user: &str,
        body: &[u8],
    ) -> anyhow::Result<u16> {
        let url = format!(
            "{}/v1/apps/{}/conferences/{}/batch",
            self.base, self.app_id, conference
        );
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=MAX_ATTEMPTS {
            let result = self
                .http
                .post(&url)
                .bearer_auth(token.as_str())
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await;
            let wait = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match status {
                        200..=299 => return Ok(status),
                        401 => {
                            *token = self.handshake(user).await?;
                            Duration::ZERO
                        }
                        429 | 503 => resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .map_or(backoff, Duration::from_secs),
                        _ => return Ok(status),
                    }
                }
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(error = %e, "request failed; retrying");
                    backoff
                }
                Err(e) => return Err(e.into()),
            };
            if attempt == MAX_ATTEMPTS {
                return Ok(503);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
        Ok(503)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn run_conference(
    client: &Client,
    plan: ConferencePlan,
    start_ms: u64,
    realtime: bool,
) -> anyhow::Result<Report> {
    let mut report = Report {
        conferences: 1,
        participants: plan.users.len(),
        ..Report::default()
    };
    let mut tokens = Vec::with_capacity(plan.users.len());
    for user in &plan.users {
        tokens.push(client.handshake(user).await?);
    }
    let started = Instant::now();
    for batch in &plan.batches {
        if realtime {
            let due = Duration::from_millis(batch.at_ms);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let events: Vec<serde_json::Value> = batch
            .events
            .iter()
            .map(|(kind, offset, data)| json!({"kind": kind, "timestamp": start_ms + offset, "data": data}))
            .collect();
        let body = serde_json::to_vec(&json!({"events": events}))?;
        report.requests += 1;
        report.bytes_sent += body.len() as u64;
        let user = &plan.users[batch.user];
        let sent_at = Instant::now();
        let status = client
            .send(&plan.conference_id, &mut tokens[batch.user], user, &body)
            .await?;
        if (200..300).contains(&status) {
            report
                .latencies_us
                .push(sent_at.elapsed().as_micros() as u64);
            report.acknowledged_requests += 1;
            for (kind, _, _) in &batch.events {
                *report.acknowledged.entry((*kind).to_owned()).or_default() += 1;
            }
        } else {
            *report.refused.entry(status).or_default() += 1;
        }
    }
    Ok(report)
}

fn merge(into: &mut Report, other: Report) {
    into.conferences += other.conferences;
    into.participants += other.participants;
    into.requests += other.requests;
    into.acknowledged_requests += other.acknowledged_requests;
    into.bytes_sent += other.bytes_sent;
    into.latencies_us.extend(other.latencies_us);
    for (k, v) in other.refused {
        *into.refused.entry(k).or_default() += v;
    }
    for (k, v) in other.acknowledged {
        *into.acknowledged.entry(k).or_default() += v;
    }
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.stats_interval > 0,
        "--stats-interval must be at least 1 s"
    );
    anyhow::ensure!(
        !args.profiles.is_empty(),
        "--profiles needs at least one profile"
    );
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        base: args.url.trim_end_matches('/').to_owned(),
        app_id: args.app_id.clone(),
        secret: args.app_secret.clone(),
        retries: AtomicU64::new(0),
    });
    let shape = Shape {
        seed: args.seed,
        participants: usize::from(args.participants),
        duration_ms: args.duration * 1000,
        stats_interval_ms: args.stats_interval * 1000,
        profiles: args.profiles.clone(),
    };
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(args.conferences as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} conferences {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let samples = Arc::new(AtomicU64::new(0));
    let mut results = futures::stream::iter(0..args.conferences)
        .map(|index| {
            let client = Arc::clone(&client);
            let shape = shape.clone();
            let realtime = args.realtime;
            async move {
                let start_ms = now_ms();
                let plan = plan::plan(&shape, index, start_ms);
                run_conference(&client, plan, start_ms, realtime).await
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    let mut report = Report::default();
    while let Some(result) = results.next().await {
        let one = result?;
        samples.fetch_add(
            one.acknowledged.get("stats_sample").copied().unwrap_or(0),
            Ordering::Relaxed,
        );
        merge(&mut report, one);
        bar.inc(1);
        bar.set_message(format!(
            "{} samples acknowledged",
            samples.load(Ordering::Relaxed)
        ));
    }
    bar.finish_and_clear();
    report.retries = client.retries.load(Ordering::Relaxed);
    report.latencies_us.sort_unstable();
    report.latency_p50_ms = percentile_ms(&report.latencies_us, 0.50);
    report.latency_p99_ms = percentile_ms(&report.latencies_us, 0.99);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// Nearest-rank percentile of sorted microsecond values, in milliseconds.
fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

pub fn print(report: &Report) {
    let secs = (report.elapsed_ms as f64 / 1000.0).max(0.001);
    let samples = report
        .acknowledged
        .get("stats_sample")
        .copied()
        .unwrap_or(0);
    println!("conferences:            {}", report.conferences);
    println!("participants:           {}", report.participants);
    println!("requests sent:          {}", report.requests);
    println!("requests acknowledged:  {}", report.acknowledged_requests);
    println!("retries (429/503/401):  {}", report.retries);
    for (status, n) in &report.refused {
        println!("refused with {status}:       {n}");
    }
    for (kind, n) in &report.acknowledged {
        println!("acknowledged {kind:<22} {n}");
    }
    println!(
        "stats samples acknowledged: {samples} ({:.0} samples/s, {:.2} MB/s, {:.1} MB in {:.1} s)",
        samples as f64 / secs,
        report.bytes_sent as f64 / 1e6 / secs,
        report.bytes_sent as f64 / 1e6,
        secs
    );
    println!(
        "request latency: p50 {:.1} ms, p99 {:.1} ms",
        report.latency_p50_ms, report.latency_p99_ms
    );
}

#[cfg(test)]
mod tests {
    use super::percentile_ms;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.50), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&[7000], 0.99), 7.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}

//! `callscope up` end to end, through the real binary: simulated calls go in over HTTP, and every
//! acknowledged sample is in the Parquet tables exactly once, also after the whole process is killed with
//! SIGKILL in the middle of processing and started again. On the embedded log, on the real Kafka broker,
//! and with the tables (and the processor's checkpoints) in an S3 bucket of a real S3-compatible server
//! (moto's, from PyPI, installed by scripts/setup).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_callscope");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Up {
    child: Child,
    ingest: String,
    query: String,
}

/// How `up` runs: on Kafka (with this consumer group) or the embedded log, and extra environment
/// (the S3 settings).
#[derive(Default)]
struct Opts {
    kafka_group: Option<String>,
    env: Vec<(String, String)>,
}

/// An S3-compatible server (moto's, `python -m moto.server`) on a free port, with one bucket; killed on
/// drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

const BUCKET: &str = "callscope-test";

impl S3Server {
    fn start() -> S3Server {
        let python = std::env::var_os("CALLSCOPE_PYTHON").map_or_else(
            || Path::new("/var/cache/callscope/venv/bin/python").to_path_buf(),
            std::path::PathBuf::from,
        );
        assert!(
            python.exists(),
            "no Python with moto at {} (set CALLSCOPE_PYTHON, or run scripts/setup)",
            python.display()
        );
        let port = free_port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's S3 server");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        // Ready when it creates the bucket (S3 CreateBucket: PUT /bucket).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("curl")
                .args([
                    "-sS",
                    "-m",
                    "5",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-X",
                    "PUT",
                ])
                .arg(format!("{}/{BUCKET}", server.endpoint))
                .output()
                .unwrap();
            if out.stdout == b"200" {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "moto's S3 server did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `up`'s environment for a lake at `s3://BUCKET/{prefix}`: processor output and query lake, the
    /// endpoint through each service's `s3` settings (no `AWS_ENDPOINT`: a service that ignored its
    /// settings would miss the server), and the credentials object_store reads from `AWS_*` (the server
    /// checks no signature; the keys only need to exist).
    fn env(&self, prefix: &str) -> Vec<(String, String)> {
        let lake = format!("s3://{BUCKET}/{prefix}");
        [
            ("CALLSCOPE__PROCESSOR__OUTPUT", lake.as_str()),
            ("CALLSCOPE__QUERY__LAKE", lake.as_str()),
            ("CALLSCOPE__PROCESSOR__S3__ENDPOINT", self.endpoint.as_str()),
            ("CALLSCOPE__PROCESSOR__S3__ALLOW_HTTP", "true"),
            ("CALLSCOPE__QUERY__S3__ENDPOINT", self.endpoint.as_str()),
            ("CALLSCOPE__QUERY__S3__ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test-key"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The keys under `prefix` (ListObjectsV2, first 1000).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let out = Command::new("curl")
            .args(["-sS", "-m", "10"])
            .arg(format!(
                "{}/{BUCKET}?list-type=2&prefix={prefix}",
                self.endpoint
            ))
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout);
        body.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Demo {
    app_id: String,
    secret: String,
    query_key: String,
}

/// A test that fails must not leave `up` running (and holding its ports and files).
impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Up {
    /// Starts `callscope up` on `dir` (on Kafka when `kafka` names a consumer group to use); on first
    /// start also returns the demo app it printed.
    fn start(dir: &Path, opts: &Opts) -> (Up, Option<Demo>) {
        // A port found free can be taken again before `up` binds it (by the other test's connections):
        // `up` then exits at once, and is started again on other ports. The demo app, printed as soon
        // as it is created, is kept from the first attempt.
        let mut demo: BTreeMap<&str, String> = BTreeMap::new();
        for attempt in 1..=5 {
            if let Some(up) = Self::try_start(dir, opts, &mut demo) {
                let demo = (demo.len() == 3).then(|| Demo {
                    app_id: demo["app"].clone(),
                    secret: demo["secret"].clone(),
                    query_key: demo["key"].clone(),
                });
                return (up, demo);
            }
            eprintln!(
                "callscope up exited before it was up (attempt {attempt}); retrying on other ports"
            );
        }
        panic!("callscope up did not start in 5 attempts");
    }

    /// One start; `None` when the process ended before saying it is up.
    fn try_start(dir: &Path, opts: &Opts, demo: &mut BTreeMap<&'static str, String>) -> Option<Up> {
        let (ingest, query, admin) = (free_port(), free_port(), free_port());
        let mut command = Command::new(BIN);
        command.envs(opts.env.iter().map(|(k, v)| (k, v)));
        if let Some(group) = &opts.kafka_group {
            let brokers = std::env::var("KAFKA_BROKERS")
                .unwrap_or_else(|_| panic!("KAFKA_BROKERS is not set: run scripts/test"));
            command
                .args(["--kafka", &brokers])
                .env("CALLSCOPE__PROCESSOR__CONSUMER_GROUP", group);
        }
        let mut child = command
            .args(["--data-dir", dir.to_str().unwrap(), "up"])
            .args([
                "--ingest-listen",
                &format!("127.0.0.1:{ingest}"),
                "--query-listen",
                &format!("127.0.0.1:{query}"),
            ])
            .env(
                "CALLSCOPE__PROCESSOR__METRICS__LISTEN",
                format!("127.0.0.1:{admin}"),
            )
            .env("CALLSCOPE__PROCESSOR__FLUSH_INTERVAL_MS", "500")
            .env("CALLSCOPE__PROCESSOR__CLOSE_GRACE_MS", "500")
            .env("CALLSCOPE__PROCESSOR__CONFERENCE_TIMEOUT_MS", "3000")
            .env("CALLSCOPE__QUERY__LIMITS__CACHE_TTL_MS", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start callscope up");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut up_line = false;
        for line in lines.by_ref() {
            let line = line.unwrap();
            for (label, key) in [
                ("AppID:", "app"),
                ("AppSecret:", "secret"),
                ("query key:", "key"),
            ] {
                if let Some(v) = line.trim().strip_prefix(label) {
                    demo.insert(key, v.trim().to_owned());
                }
            }
            if line.starts_with("Ctrl-C") {
                up_line = true;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "callscope up printed no ready line within 60 s"
            );
        }
        if !up_line {
            // End of output before the ready line: the process is exiting.
            child.wait().unwrap();
            return None;
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Some(Up {
            child,
            ingest: format!("http://127.0.0.1:{ingest}"),
            query: format!("http://127.0.0.1:{query}"),
        })
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "up exited with {status} after SIGTERM");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "up did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn simulate(up: &Up, demo: &Demo, dir: &Path) -> serde_json::Value {
    simulate_seed(up, demo, dir, 42)
}

fn simulate_seed(up: &Up, demo: &Demo, dir: &Path, seed: u64) -> serde_json::Value {
    let report = dir.join(format!("report-{seed}.json"));
    let out = Command::new(BIN)
        .args([
            "simulate",
            "--url",
            &up.ingest,
            "--app-id",
            &demo.app_id,
            "--app-secret",
            &demo.secret,
        ])
        .args([
            "--conferences",
            "8",
            "--concurrency",
            "4",
            "--participants",
            "3",
            "--duration",
            "40",
            "--stats-interval",
            "5",
        ])
        .args([
            "--profiles",
            "good,lossy,failing-setup,flapping-ice",
            "--seed",
            &seed.to_string(),
            "--quiet",
            "--report",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap()
}

/// Runs `sql` against the query API; None while the service is not answering.
fn sql(up: &Up, key: &str, sql: &str) -> Option<serde_json::Value> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-m",
            "10",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {key}"),
            "-H",
            "Content-Type: application/json",
        ])
        .args([
            "-d",
            &serde_json::json!({"sql": sql}).to_string(),
            &format!("{}/api/v1/sql", up.query),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get("rows").cloned()
}

/// The tables' contents that do not depend on when the run happened.
fn summary(up: &Up, key: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({
        "events": sql(up, key, "select kind, count(*) as n from events group by kind order by kind")?,
        "samples": sql(up, key, "select count(*) as n from stats_samples")?,
        "conferences": sql(up, key, "select setup_status, count(*) as n, sum(fabrics) as fabrics from conferences group by setup_status order by setup_status")?,
        "fabrics": sql(up, key, "select count(*) as n from fabrics")?,
        "tracks": sql(up, key, "select count(*) as n from track_quality")?,
        "users": sql(up, key, "select count(*) as n from user_quality")?,
        "feedback": sql(up, key, "select count(*) as n from feedback")?,
    }))
}

fn count(rows: &serde_json::Value, kind: &str) -> u64 {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
        .map_or(0, |r| r["n"].as_u64().unwrap())
}

/// Waits until the tables hold every acknowledged event and all conferences are closed.
fn settled(up: &Up, key: &str, report: &serde_json::Value) -> serde_json::Value {
    let acknowledged = report["acknowledged"].as_object().unwrap();
    let conferences = report["conferences"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        if let Some(s) = summary(up, key) {
            let all_events = acknowledged
                .iter()
                .all(|(kind, n)| count(&s["events"], kind) == n.as_u64().unwrap());
            let closed: u64 = s["conferences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["n"].as_u64().unwrap())
                .sum();
            if all_events && closed == conferences {
                return s;
            }
            last = s;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("tables did not settle within 120 s; acknowledged {acknowledged:?}, tables {last}");
}

#[test]
fn every_acknowledged_event_lands_once_even_across_sigkill() {
    lands_once_across_sigkill(|_| Opts::default()).up.stop();
}

/// The same with the lake in an S3 bucket: the processor writes its files and checkpoints there, the
/// query service reads them from there, and nothing is written to the data directory's lake. The crash
/// run also compacts every second, so compaction merges and deletes objects in the bucket while the
/// process is killed around it; the tables still equal the reference run's.
#[test]
fn s3_every_acknowledged_event_lands_once_even_across_sigkill() {
    let s3 = S3Server::start();
    let landed = lands_once_across_sigkill(|run| {
        let mut env = s3.env(&format!("{run}-lake"));
        // One partition: every flush then writes a file in the same directories, so the crash run
        // has runs of files to compact.
        env.push(("CALLSCOPE__BUS__PARTITIONS".to_owned(), "1".to_owned()));
        if run == "crash" {
            for (key, value) in [
                ("CALLSCOPE__PROCESSOR__COMPACTION__INTERVAL_MS", "1000"),
                ("CALLSCOPE__PROCESSOR__COMPACTION__MIN_FILES", "2"),
                ("CALLSCOPE__PROCESSOR__COMPACTION__GRACE_MS", "1000"),
            ] {
                env.push((key.to_owned(), value.to_owned()));
            }
        }
        Opts {
            kafka_group: None,
            env,
        }
    });
    // The calls above were flushed in one file per directory. A second set of calls adds a second file
    // to each, so compaction has runs to merge; the tables then hold both sets, each row once.
    let second = simulate_seed(&landed.up, &landed.demo, landed.dirs[1].path(), 43);
    let mut both = landed.report.clone();
    for (kind, n) in second["acknowledged"].as_object().unwrap() {
        let sum = both["acknowledged"][kind].as_u64().unwrap_or(0) + n.as_u64().unwrap();
        both["acknowledged"][kind] = serde_json::json!(sum);
    }
    both["conferences"] = serde_json::json!(
        landed.report["conferences"].as_u64().unwrap() + second["conferences"].as_u64().unwrap()
    );
    let before = settled(&landed.up, &landed.demo.query_key, &both);
    // Compacted files appear in the bucket, the files they cover are deleted after the grace period,
    // and the query service reads every row once throughout.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s3
        .keys("crash-lake/")
        .iter()
        .any(|k| k.ends_with("-compacted.parquet"))
    {
        assert!(
            Instant::now() < deadline,
            "no compacted file in the bucket within 60 s: {:?}",
            s3.keys("crash-lake/")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        summary(&landed.up, &landed.demo.query_key).as_ref(),
        Some(&before),
        "compaction on S3 neither adds nor loses rows"
    );
    assert_ne!(
        before, landed.reference,
        "the second calls are in the tables"
    );
    landed.up.stop();
    for (run, dir) in ["reference", "crash"].iter().zip(&landed.dirs) {
        let keys = s3.keys(&format!("{run}-lake/"));
        for table in [
            "conferences",
            "fabrics",
            "stats_samples",
            "track_quality",
            "user_quality",
        ] {
            assert!(
                keys.iter()
                    .any(|k| k.starts_with(&format!("{run}-lake/{table}/app_id="))
                        && k.ends_with(".parquet")),
                "no {table} file in the bucket for the {run} run: {keys:?}"
            );
        }
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&format!("{run}-lake/_checkpoints/"))),
            "the checkpoints live in the bucket too: {keys:?}"
        );
        assert!(
            !dir.path().join("lake").exists(),
            "nothing is written to the local lake"
        );
    }
}

/// The same on the real Kafka broker (`callscope up --kafka`): the processor's commits and replay through
/// a consumer group, and a killed member's partitions handed over after its session times out.
#[test]
fn kafka_every_acknowledged_event_lands_once_even_across_sigkill() {
    let group = format!("test-up-{}", std::process::id());
    lands_once_across_sigkill(|run| Opts {
        kafka_group: Some(format!("{group}-{run}")),
        env: Vec::new(),
    })
    .up
    .stop();
}

/// What [`lands_once_across_sigkill`] leaves: both data directories, the crash run's `up` (still running),
/// its query key, and the reference run's tables.
struct Landed {
    dirs: [tempfile::TempDir; 2],
    up: Up,
    demo: Demo,
    reference: serde_json::Value,
    report: serde_json::Value,
}

/// The uninterrupted reference run and the crash run, each with the options `opts` gives for its name
/// ("reference", "crash").
fn lands_once_across_sigkill(opts: impl Fn(&str) -> Opts) -> Landed {
    // Reference: one uninterrupted run.
    let reference_dir = tempfile::tempdir().unwrap();
    let reference_opts = opts("reference");
    let (up, demo) = Up::start(reference_dir.path(), &reference_opts);
    let demo = demo.expect("first start prints the demo app");
    let report = simulate(&up, &demo, reference_dir.path());
    let acknowledged = &report["acknowledged"];
    assert_eq!(
        report["refused"],
        serde_json::json!({}),
        "nothing refused: {report}"
    );
    assert!(acknowledged["stats_sample"].as_u64().unwrap() > 100);
    let reference = settled(&up, &demo.query_key, &report);
    // 8 conferences, one row each (the simulated calls end before the timeout: no late segments).
    let closed: u64 = reference["conferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["n"].as_u64().unwrap())
        .sum();
    assert_eq!(closed, 8);
    // A graceful stop and a restart change nothing.
    up.stop();
    let (up, again) = Up::start(reference_dir.path(), &reference_opts);
    assert!(again.is_none(), "the demo app is created only once");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        settled(&up, &demo.query_key, &report),
        reference,
        "a restart must not add or lose rows"
    );
    up.kill();

    // Crash run: the same calls, and the whole process killed with SIGKILL twice while the processor works.
    let crash_dir = tempfile::tempdir().unwrap();
    let crash_opts = opts("crash");
    let (up, demo) = Up::start(crash_dir.path(), &crash_opts);
    let demo = demo.unwrap();
    let crash_report = simulate(&up, &demo, crash_dir.path());
    assert_eq!(
        crash_report["acknowledged"], report["acknowledged"],
        "the seed decides what is sent"
    );
    std::thread::sleep(Duration::from_millis(700));
    up.kill();
    let (up, _) = Up::start(crash_dir.path(), &crash_opts);
    std::thread::sleep(Duration::from_millis(1300));
    up.kill();
    let (up, _) = Up::start(crash_dir.path(), &crash_opts);
    let recovered = settled(&up, &demo.query_key, &crash_report);
    assert_eq!(
        recovered, reference,
        "after SIGKILLs the tables equal those of the uninterrupted run"
    );
    Landed {
        dirs: [reference_dir, crash_dir],
        up,
        demo,
        reference,
        report,
    }
}

/// A port in use: `up` exits with an error that names the address, and the demo app it created on the
/// way is printed anyway (its secret is never shown again).
#[test]
fn a_port_in_use_is_named_and_the_demo_app_is_still_shown() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["--data-dir", dir.path().to_str().unwrap(), "up"])
        .args(["--ingest-listen", &format!("127.0.0.1:{port}")])
        .args(["--query-listen", &format!("127.0.0.1:{}", free_port())])
        .env(
            "CALLSCOPE__PROCESSOR__METRICS__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("binding the ingest API on 127.0.0.1:{port}")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("AppSecret:"), "{stdout}");
    assert!(stdout.contains("query key:"), "{stdout}");
    drop(taken);
}

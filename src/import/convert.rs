//! The rtcstats dump → callscope events converter. Pure: no I/O, the caller reads the file.
//!
//! A dump is one JSON array per line, `[method, peerConnectionId|null, payload, timestampMs]`
//! (see `../shared/fixtures/rtcstats-dumps/README.md`). Per peer connection (PC) this emits what
//! the callscope SDK would have sent for it:
//! - `fabric_created` at `create` (a PC without any `create` line starts at its first line; lines
//!   of a PC before its `create` or after its `close` are ignored);
//! - `fabric_setup` at the first ICE `connected`/`completed` (or connection state `connected`,
//!   whichever comes first), `delay` = that time − create time, `iceGatheringDelay` = gathering
//!   `complete` − create when gathering completed before, `iceConnectivityDelay` = that time − the
//!   first ICE `checking`;
//! - `fabric_setup_failed` (`IceConnectionFailure`) when the ICE or connection state reaches
//!   `failed` before ever connecting, `fabric_dropped` when it does after having connected;
//! - `ice_status`: `iceDisruptionStart` (connected/completed → disconnected), `iceDisruptionEnd`
//!   (→ connected/completed again, `delay` = the disruption), `iceRestarted` (`restartIce()`,
//!   `createOffer({iceRestart: true})`, or the ICE state going back to `new`, or from
//!   connected/completed to `checking`, counted once per restart), `iceFailed`,
//!   `iceConnectionDisruptionStart/End` (checking ↔ disconnected), `iceTerminated`/`iceAborted`;
//! - `fabric_state_change` for every ICE, connection, gathering and signaling state change;
//! - `stats_sample` for every `getstats`, with the delta compression undone ([`super::delta`]):
//!   the full cumulative reports as an array of `{id, type, timestamp, ...}`, timestamps in
//!   absolute unix ms (certificate reports are left out: large and of no quality value);
//! - `ssrc_map` entries the first time an SSRC shows up in the stats: inbound streams belong to
//!   the PC's remote user (`<pc id>-remote`), outbound streams to the local user;
//! - `report_error` for failed `createOffer`/`createAnswer`/`set*Description`/`addIceCandidate`/
//!   `getUserMedia` calls (`...OnFailure` lines);
//! - `fabric_terminated` at `close`, or at the end of the dump (the latest line time) if the PC
//!   was never closed;
//! - one `user_joined` (at the time of the earliest other event, as the SDK sends it just before
//!   a conference's first event) and `user_left` (at the end) for the local user.
//!
//! The format variations handled: unknown methods (ignored), missing members and a missing line
//! timestamp (the previous line's time), `connectionInfo` payloads sent as a JSON string, Chrome
//! standard, Chrome legacy (`ssrc`, `googCandidatePair`, numbers as strings) and Firefox stats
//! shapes (kept verbatim), getstats payloads sent as an array of reports, and the rtcstats v3
//! framing (`RTCStatsDump` header line and metadata object, line timestamps as deltas from the
//! previous line, numeric method ids, `null` for a removed report). v3's compressed stats member
//! names are not expanded.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use callscope_schemas::enums::{
    EndpointType, FabricSetupFailureReason, FabricUsage, IceConnectionState, IceEventType,
    MediaType, ReportType, StateChangeType, StreamType, WebRtcFunction,
};
use callscope_schemas::events::{
    AdditionalIds, EndpointInfo, FabricCreated, FabricDropped, FabricSetup, FabricSetupFailed,
    FabricStateChange, FabricTerminated, IceStatus, ReportError, SsrcInfo, SsrcMap, StatsReport,
    StatsSample, UserInfo, UserJoined, UserLeft,
};
use callscope_schemas::limits;
use callscope_schemas::{BatchItem, EventKind, Payload};
use serde_json::{Map, Value};

use super::delta::{self, MissingTimestamp, Reports};

/// One converted event: what to send, when it happened, and where in the dump it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportEvent {
    /// 1-based dump line it comes from (the last line for end-of-dump events).
    pub line: usize,
    /// When it happened: dump time, unix ms.
    pub timestamp_ms: f64,
    pub payload: Payload,
}

impl ImportEvent {
    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }

    /// The event as the batch endpoint takes it: `{kind, timestamp, data}`.
    pub fn batch_item(&self) -> Result<BatchItem, serde_json::Error> {
        let data = match serde_json::to_value(&self.payload)? {
            Value::Object(mut tagged) => tagged.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        BatchItem::new(self.kind(), Some(self.timestamp_ms), &data)
    }
}

/// A line that is not a well-formed dump line; it is skipped, the rest of the dump is converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// The result of converting one dump.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversion {
    /// The local user: the dump's `identity` (`userId`, else `displayName`, else `endpointId`),
    /// else the fallback given to [`convert`].
    pub user_id: String,
    /// In dump order; `user_joined` first, `user_left` last.
    pub events: Vec<ImportEvent>,
    /// Malformed lines, skipped.
    pub errors: Vec<LineError>,
    /// Lines of the dump, empty ones included.
    pub lines: usize,
    /// Well-formed lines that produce no event (SDP, candidates, unknown methods, lines of a PC
    /// before its `create` or after its `close`, metadata).
    pub ignored: usize,
}

/// `import-<file stem>`, the conference an imported dump lands in unless `--conference-id` is given.
pub fn conference_id_for(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    clean_id(&format!("import-{stem}"), limits::CONFERENCE_ID_MAX_BYTES)
        .unwrap_or_else(|| "import".to_owned())
}

/// `rtcstats-<file stem>`: the local user when the dump does not name one.
pub fn fallback_user_id_for(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    clean_id(&format!("rtcstats-{stem}"), limits::USER_ID_MAX_BYTES)
        .unwrap_or_else(|| "rtcstats".to_owned())
}

/// The remote user of a PC: rtcstats does not say who is at the other end, so each PC gets its
/// own synthetic remote user `<pc id>-remote`.
pub fn remote_id_for(connection_id: &str) -> String {
    let base = clip(connection_id, limits::USER_ID_MAX_BYTES - "-remote".len());
    format!("{base}-remote")
}

/// Converts a whole dump. `fallback_user_id` is the local user when the dump has no identity.
pub fn convert(text: &str, fallback_user_id: &str) -> Conversion {
    let parsed = parse(text);
    let identity = Identity::from_entries(&parsed.entries, parsed.header.as_ref());
    let user_id = identity
        .user_id()
        .or_else(|| clean_id(fallback_user_id, limits::USER_ID_MAX_BYTES))
        .unwrap_or_else(|| "rtcstats".to_owned());

    let timed = parsed.entries.iter().filter(|e| !e.metadata);
    let start = timed.clone().map(|e| e.time).reduce(f64::min);
    let end = timed.map(|e| e.time).reduce(f64::max);
    let fallback_time = parsed.entries.first().map_or(0.0, |e| e.time);
    let (start, end) = (start.unwrap_or(fallback_time), end.unwrap_or(fallback_time));

    let mut pcs: HashMap<&str, PcInfo> = HashMap::new();
    for (index, e) in parsed.entries.iter().enumerate() {
        let Some(pc) = e.pc.as_deref() else { continue };
        let info = pcs.entry(pc).or_default();
        if e.method == "create" && info.first_create.is_none() {
            info.first_create = Some(index);
        }
        if e.method == "constraints"
            && let Some(p2p) = sfu_p2p_flag(&e.payload)
        {
            info.p2p = Some(p2p);
        }
    }

    let mut out = Out {
        local_user: user_id.clone(),
        events: Vec::new(),
        errors: parsed.errors,
        ignored: 0,
    };
    let first_line = parsed.entries.first().map_or(1, |e| e.line);
    out.emit(first_line, start, identity.user_joined());

    let missing = if parsed.v3 {
        MissingTimestamp::SampleTime
    } else {
        MissingTimestamp::Unchanged
    };
    let mut fabrics: HashMap<String, Fabric> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (index, e) in parsed.entries.iter().enumerate() {
        if e.metadata {
            out.ignored += 1;
            continue;
        }
        let Some(pc) = e.pc.as_deref() else {
            if !report_error(&mut out, e, None) {
                out.ignored += 1;
            }
            continue;
        };
        let info = pcs.get(pc).copied().unwrap_or_default();
        if e.method == "create" {
            if let Some(old) = fabrics.get_mut(pc)
                && !old.closed
            {
                old.close(&mut out, e.line, e.time, "recreated");
            }
            let fabric = Fabric::new(pc, e.time, info.p2p);
            out.emit(e.line, e.time, fabric.created());
            if !order.iter().any(|p| p == pc) {
                order.push(pc.to_owned());
            }
            fabrics.insert(pc.to_owned(), fabric);
            continue;
        }
        let open = fabrics.get(pc).is_some_and(|f| !f.closed);
        if !open {
            let created_later = info.first_create.is_some_and(|c| c > index);
            if created_later || fabrics.contains_key(pc) {
                // Before its `create` or after its `close`: not part of the fabric's life.
                out.ignored += 1;
                continue;
            }
            // No `create` line for this PC at all: it starts with its first line.
            let fabric = Fabric::new(pc, e.time, info.p2p);
            out.emit(e.line, e.time, fabric.created());
            order.push(pc.to_owned());
            fabrics.insert(pc.to_owned(), fabric);
        }
        let Some(f) = fabrics.get_mut(pc) else {
            continue;
        };
        f.last_ms = f.last_ms.max(e.time);
        f.apply(&mut out, e, missing);
    }

    let last_line = parsed.lines.max(first_line);
    let mut end_of_dump = end;
    for pc in &order {
        if let Some(f) = fabrics.get_mut(pc) {
            end_of_dump = end_of_dump.max(f.last_ms);
            if !f.closed {
                let at = end.max(f.last_ms);
                f.close(&mut out, last_line, at, "dumpEnded");
            }
        }
    }
    out.emit(last_line, end_of_dump, UserLeft::default());
    // The SDK sends user_joined just before a conference's first event, not when the page loaded:
    // lines that make no event (getUserMedia, metadata) do not start the call. An earlier join
    // would also leave the conference silent until its first fabric, and the processor closes a
    // conference silent for its timeout (30 s by default).
    let first_event = out
        .events
        .iter()
        .skip(1)
        .map(|e| e.timestamp_ms)
        .reduce(f64::min);
    if let (Some(at), Some(joined)) = (first_event, out.events.first_mut()) {
        joined.timestamp_ms = at;
    }

    Conversion {
        user_id,
        events: out.events,
        errors: out.errors,
        lines: parsed.lines,
        ignored: out.ignored,
    }
}

// ---------------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------------

/// One well-formed dump line, with its time resolved to unix ms.
#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    method: String,
    pc: Option<String>,
    payload: Value,
    time: f64,
    /// `identity`/`connectionInfo`: describes the session; its timestamp is when it was sent,
    /// which can be far from the call (minutes, or years for re-uploaded dumps).
    metadata: bool,
}

struct Parsed {
    entries: Vec<Entry>,
    errors: Vec<LineError>,
    lines: usize,
    /// The rtcstats v3 framing (`RTCStatsDump` header).
    v3: bool,
    /// v3: the metadata object of the second line.
    header: Option<Map<String, Value>>,
}

fn is_metadata(method: &str) -> bool {
    matches!(method, "identity" | "connectionInfo")
}

/// Up to 80 characters of a line, for error messages.
fn snippet(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn parse(text: &str) -> Parsed {
    struct Raw {
        line: usize,
        method: String,
        pc: Option<String>,
        payload: Value,
        time: Option<f64>,
    }
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    let mut lines = 0;
    let mut v3 = false;
    let mut seen_content = false;
    let mut want_header = false;
    let mut header = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        lines = line;
        let s = raw.trim();
        if s.is_empty() {
            continue;
        }
        if !seen_content {
            seen_content = true;
            if s == "RTCStatsDump" {
                v3 = true;
                want_header = true;
                continue;
            }
        }
        let value: Value = match serde_json::from_str(s) {
            Ok(v) => v,
            Err(e) => {
                errors.push(LineError {
                    line,
                    message: format!("invalid JSON: {e}: {}", snippet(s)),
                });
                continue;
            }
        };
        if std::mem::take(&mut want_header)
            && let Value::Object(m) = value
        {
            header = Some(m);
            continue;
        }
        let Value::Array(items) = value else {
            errors.push(LineError {
                line,
                message: format!("not a JSON array: {}", snippet(s)),
            });
            continue;
        };
        let method = match items.first() {
            Some(Value::String(m)) if !m.is_empty() => match v3.then(|| method_for_id(m)) {
                Some(Some(name)) => name.to_owned(),
                _ => m.clone(),
            },
            Some(Value::Number(n)) if v3 => {
                let id = n.to_string();
                method_for_id(&id).map_or(id, str::to_owned)
            }
            None => {
                errors.push(LineError {
                    line,
                    message: "an empty array: no method".to_owned(),
                });
                continue;
            }
            Some(_) => {
                errors.push(LineError {
                    line,
                    message: format!("the method (first element) is not a string: {}", snippet(s)),
                });
                continue;
            }
        };
        let pc = match items.get(1) {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => clean_id(p, limits::ID_MAX_BYTES),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                errors.push(LineError {
                    line,
                    message: format!(
                        "the peer connection id (second element) is neither a string nor null: {}",
                        snippet(s)
                    ),
                });
                continue;
            }
        };
        let time = if v3 {
            (items.len() >= 4)
                .then(|| items.last().and_then(delta::number))
                .flatten()
        } else {
            items.get(3).and_then(delta::number)
        };
        raws.push(Raw {
            line,
            method,
            pc,
            payload: items.get(2).cloned().unwrap_or(Value::Null),
            time,
        });
    }

    // Resolve times. v3: each line's time is a delta from the previous line's (the first one from
    // the epoch). Classic: absolute; when the dump has unix times, a value that is not one is
    // treated as missing. A missing time is the previous line's; leading ones the first known.
    let mut times: Vec<Option<f64>> = Vec::with_capacity(raws.len());
    if v3 {
        let mut clock: Option<f64> = None;
        for r in &raws {
            if let Some(d) = r.time {
                clock = Some(clock.unwrap_or(0.0) + d);
            }
            times.push(clock);
        }
    } else {
        let has_epoch = raws.iter().any(|r| {
            !is_metadata(&r.method) && r.time.is_some_and(|t| t >= delta::ABSOLUTE_MS_FLOOR)
        });
        let mut clock: Option<f64> = None;
        for r in &raws {
            let own = r
                .time
                .filter(|t| !has_epoch || *t >= delta::ABSOLUTE_MS_FLOOR);
            if is_metadata(&r.method) {
                times.push(own.or(clock));
            } else {
                if own.is_some() {
                    clock = own;
                }
                times.push(clock);
            }
        }
    }
    let first_known = raws
        .iter()
        .zip(&times)
        .find(|(r, t)| !is_metadata(&r.method) && t.is_some())
        .and_then(|(_, t)| *t)
        .or_else(|| times.iter().flatten().next().copied())
        .unwrap_or(0.0);
    let entries = raws
        .into_iter()
        .zip(times)
        .map(|(r, t)| Entry {
            metadata: is_metadata(&r.method),
            line: r.line,
            method: r.method,
            pc: r.pc,
            payload: r.payload,
            time: t.unwrap_or(first_known),
        })
        .collect();
    Parsed {
        entries,
        errors,
        lines,
        v3,
        header,
    }
}

/// The rtcstats v3 numeric method ids this converter acts on.
fn method_for_id(id: &str) -> Option<&'static str> {
    Some(match id {
        "g" | "1" => "getStats",
        "2" => "createOffer",
        "12" => "createOfferOnFailure",
        "13" => "createAnswerOnFailure",
        "14" => "setLocalDescriptionOnFailure",
        "15" => "setRemoteDescriptionOnFailure",
        "16" => "addIceCandidateOnFailure",
        "23" => "onsignalingstatechange",
        "24" => "oniceconnectionstatechange",
        "25" => "onconnectionstatechange",
        "26" => "onicegatheringstatechange",
        "36" => "close",
        "37" => "restartIce",
        "39" => "create",
        "40" => "constraints",
        "65" => "navigator.mediaDevices.getUserMediaOnFailure",
        _ => return None,
    })
}

/// Jitsi's `constraints` line: `{optional: [{rtcStatsSFUP2P: true}]}` says whether the PC is
/// peer-to-peer (true) or to the SFU (false).
fn sfu_p2p_flag(payload: &Value) -> Option<bool> {
    payload
        .get("optional")?
        .as_array()?
        .iter()
        .rev()
        .find_map(|o| o.get("rtcStatsSFUP2P")?.as_bool())
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Identity {
    user_id: Option<String>,
    display_name: Option<String>,
    endpoint_id: Option<String>,
    conf_name: Option<String>,
    meeting_id: Option<String>,
    user_agent: Option<String>,
}

impl Identity {
    fn from_entries(entries: &[Entry], header: Option<&Map<String, Value>>) -> Identity {
        let mut id = Identity::default();
        if let Some(h) = header {
            id.absorb(h);
        }
        for e in entries.iter().filter(|e| e.metadata) {
            match &e.payload {
                Value::Object(m) => id.absorb(m),
                // rtcstats-server's `connectionInfo` is sometimes a JSON string.
                Value::String(s) => {
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(s) {
                        id.absorb(&m);
                    }
                }
                _ => {}
            }
        }
        id
    }

    fn absorb(&mut self, m: &Map<String, Value>) {
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        let slots = [
            (&mut self.user_id, text("userId")),
            (&mut self.display_name, text("displayName")),
            (&mut self.endpoint_id, text("endpointId")),
            (&mut self.conf_name, text("confName")),
            (&mut self.meeting_id, text("meetingUniqueId")),
            (&mut self.user_agent, text("userAgent")),
        ];
        for (slot, value) in slots {
            if slot.is_none() {
                *slot = value.filter(|v| !v.trim().is_empty());
            }
        }
    }

    fn user_id(&self) -> Option<String> {
        [&self.user_id, &self.display_name, &self.endpoint_id]
            .into_iter()
            .flatten()
            .find_map(|v| clean_id(v, limits::USER_ID_MAX_BYTES))
    }

    fn user_joined(&self) -> UserJoined {
        let mut info = EndpointInfo::default();
        if let Some(ua) = &self.user_agent {
            let agent = parse_user_agent(ua);
            info.r#type = Some("browser".to_owned());
            info.name = agent.browser.map(str::to_owned);
            info.version = agent
                .browser_version
                .map(|v| clip(v, limits::SHORT_TEXT_MAX_BYTES));
            info.os = agent.os.map(str::to_owned);
            info.os_version = agent
                .os_version
                .map(|v| clip(&v, limits::SHORT_TEXT_MAX_BYTES));
        }
        let additional = AdditionalIds {
            meetings_name: self
                .conf_name
                .as_deref()
                .map(|v| clip(v, limits::ADDITIONAL_ID_MAX_BYTES)),
            session_id: self
                .meeting_id
                .as_deref()
                .map(|v| clip(v, limits::ADDITIONAL_ID_MAX_BYTES)),
            ..AdditionalIds::default()
        };
        let has_ids = additional != AdditionalIds::default();
        UserJoined {
            endpoint_info: info,
            additional_ids: has_ids.then_some(additional),
            user_info: self.display_name.as_deref().map(|name| UserInfo {
                user_name: Some(name.chars().take(limits::USER_INFO_MAX_CHARS).collect()),
                ..UserInfo::default()
            }),
            ..UserJoined::default()
        }
    }
}

#[derive(Debug, Default, PartialEq)]
struct UserAgent<'a> {
    browser: Option<&'static str>,
    browser_version: Option<&'a str>,
    os: Option<&'static str>,
    os_version: Option<String>,
}

/// The token after `key` up to a space, `;` or `)`.
fn token_after<'a>(ua: &'a str, key: &str) -> Option<&'a str> {
    let i = ua.find(key)?;
    let rest = &ua[i + key.len()..];
    let end = rest.find([' ', ';', ')']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// Browser and OS from a user agent string: the few families WebRTC runs in.
fn parse_user_agent(ua: &str) -> UserAgent<'_> {
    let browsers: [(&str, &'static str); 6] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
    ];
    let (browser, browser_version) = browsers
        .iter()
        .find_map(|(key, name)| {
            let v = token_after(ua, key)?;
            (*name != "Safari" || ua.contains("Safari/")).then_some((Some(*name), Some(v)))
        })
        .unwrap_or((None, None));
    let dotted = |v: &str| v.replace('_', ".");
    let (os, os_version) = if let Some(v) = token_after(ua, "Windows NT ") {
        let version = match v {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            other => other,
        };
        (Some("Windows"), Some(version.to_owned()))
    } else if let Some(v) = token_after(ua, "Android ") {
        (Some("Android"), Some(v.to_owned()))
    } else if let Some(v) = token_after(ua, "iPhone OS ").or_else(|| token_after(ua, "CPU OS ")) {
        (Some("iOS"), Some(dotted(v)))
    } else if let Some(v) = token_after(ua, "Mac OS X ") {
        (Some("Mac OS X"), Some(dotted(v)))
    } else if ua.contains("CrOS") {
        (Some("Chrome OS"), None)
    } else if ua.contains("Linux") {
        (Some("Linux"), None)
    } else {
        (None, None)
    };
    UserAgent {
        browser,
        browser_version,
        os,
        os_version,
    }
}

// ---------------------------------------------------------------------------------------------
// Peer connections
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy)]
struct PcInfo {
    /// Index (in entries) of its first `create` line.
    first_create: Option<usize>,
    /// From Jitsi's `constraints`: peer-to-peer or to the SFU.
    p2p: Option<bool>,
}

/// Where events go.
struct Out {
    local_user: String,
    events: Vec<ImportEvent>,
    errors: Vec<LineError>,
    ignored: usize,
}

impl Out {
    fn emit(&mut self, line: usize, timestamp_ms: f64, payload: impl Into<Payload>) {
        self.events.push(ImportEvent {
            line,
            timestamp_ms,
            payload: payload.into(),
        });
    }

    fn error(&mut self, line: usize, message: String) {
        self.errors.push(LineError { line, message });
    }
}

/// The state of one PC's life (from `create` to `close`).
struct Fabric {
    connection_id: String,
    remote_id: String,
    created_ms: f64,
    endpoint: Option<EndpointType>,
    ice: String,
    connection: String,
    gathering: String,
    signaling: String,
    /// Ever reached connected/completed.
    connected: bool,
    setup_failed: bool,
    dropped: bool,
    closed: bool,
    checking_ms: Option<f64>,
    gathering_complete_ms: Option<f64>,
    disruption_start_ms: Option<f64>,
    /// A restart was signalled by an API call; the state change it causes is not a second one.
    restart_signalled: bool,
    stats: Reports,
    /// (inbound, ssrc) already in an SSRC map.
    ssrcs: HashSet<(bool, String)>,
    last_ms: f64,
}

fn since(t: f64, start: f64) -> f64 {
    (t - start).max(0.0)
}

fn is_up(state: &str) -> bool {
    matches!(state, "connected" | "completed")
}

/// The state name a state change line carries (a string, or v3's one-element argument array).
fn state_name(payload: &Value) -> Option<&str> {
    match payload {
        Value::String(s) => Some(s.as_str()),
        Value::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
    .map(str::trim)
    .filter(|s| !s.is_empty())
}

/// `createOffer({iceRestart: true})`, also as v3's argument array.
fn offers_ice_restart(payload: &Value) -> bool {
    let flag = |v: &Value| v.get("iceRestart").and_then(Value::as_bool) == Some(true);
    match payload {
        Value::Array(args) => args.iter().any(flag),
        other => flag(other),
    }
}

impl Fabric {
    fn new(pc: &str, created_ms: f64, p2p: Option<bool>) -> Fabric {
        Fabric {
            connection_id: pc.to_owned(),
            remote_id: remote_id_for(pc),
            created_ms,
            endpoint: p2p.map(|p| {
                if p {
                    EndpointType::Peer
                } else {
                    EndpointType::Server
                }
            }),
            ice: "new".to_owned(),
            connection: "new".to_owned(),
            gathering: "new".to_owned(),
            signaling: "stable".to_owned(),
            connected: false,
            setup_failed: false,
            dropped: false,
            closed: false,
            checking_ms: None,
            gathering_complete_ms: None,
            disruption_start_ms: None,
            restart_signalled: false,
            stats: Reports::new(),
            ssrcs: HashSet::new(),
            last_ms: created_ms,
        }
    }

    fn created(&self) -> FabricCreated {
        FabricCreated {
            common: Default::default(),
            remote_id: self.remote_id.clone(),
            connection_id: self.connection_id.clone(),
            fabric_usage: FabricUsage::Multiplex,
            remote_endpoint_type: self.endpoint,
            fabric_transmission_direction: None,
            connection_label: None,
        }
    }

    fn apply(&mut self, out: &mut Out, e: &Entry, missing: MissingTimestamp) {
        let (line, t) = (e.line, e.time);
        let method = e.method.as_str();
        match method {
            "oniceconnectionstatechange"
            | "onconnectionstatechange"
            | "onicegatheringstatechange"
            | "onsignalingstatechange" => {
                let Some(state) = state_name(&e.payload) else {
                    out.error(line, format!("{method} without a state name"));
                    return;
                };
                match method {
                    "oniceconnectionstatechange" => self.ice_state(out, line, t, state),
                    "onconnectionstatechange" => self.connection_state(out, line, t, state),
                    "onicegatheringstatechange" => {
                        let prev = std::mem::replace(&mut self.gathering, state.to_owned());
                        if prev != state {
                            if state == "complete" && self.gathering_complete_ms.is_none() {
                                self.gathering_complete_ms = Some(t);
                            }
                            self.state_change(
                                out,
                                line,
                                t,
                                StateChangeType::IceGatheringState,
                                &prev,
                                state,
                            );
                        }
                    }
                    _ => {
                        let prev = std::mem::replace(&mut self.signaling, state.to_owned());
                        if prev != state {
                            self.state_change(
                                out,
                                line,
                                t,
                                StateChangeType::SignalingState,
                                &prev,
                                state,
                            );
                        }
                    }
                }
            }
            "getstats" | "getStats" => self.stats(out, line, t, &e.payload, missing),
            "close" => self.close(out, line, t, "closed"),
            "restartIce" => self.signal_restart(out, line, t),
            "createOffer" if offers_ice_restart(&e.payload) => self.signal_restart(out, line, t),
            _ => {
                let fabric = (self.connection_id.as_str(), self.remote_id.as_str());
                if !report_error(out, e, Some(fabric)) {
                    out.ignored += 1;
                }
            }
        }
    }

    fn state_change(
        &self,
        out: &mut Out,
        line: usize,
        t: f64,
        changed_state: StateChangeType,
        prev: &str,
        new: &str,
    ) {
        let (Some(prev_state), Some(new_state)) = (
            clean_id(prev, limits::SHORT_TEXT_MAX_BYTES),
            clean_id(new, limits::SHORT_TEXT_MAX_BYTES),
        ) else {
            return;
        };
        out.emit(
            line,
            t,
            FabricStateChange {
                common: Default::default(),
                remote_id: self.remote_id.clone(),
                connection_id: self.connection_id.clone(),
                prev_state,
                new_state,
                changed_state,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn ice_status(
        &self,
        out: &mut Out,
        line: usize,
        t: f64,
        event_type: IceEventType,
        curr: &str,
        prev: &str,
        delay: Option<f64>,
    ) {
        out.emit(
            line,
            t,
            IceStatus {
                common: Default::default(),
                remote_id: self.remote_id.clone(),
                connection_id: self.connection_id.clone(),
                event_type,
                curr_ice_candidate_pair: None,
                prev_ice_candidate_pair: None,
                curr_ice_connection_state: curr.parse::<IceConnectionState>().ok(),
                prev_ice_connection_state: prev.parse::<IceConnectionState>().ok(),
                delay,
                local_ice_candidates: Vec::new(),
                remote_ice_candidates: Vec::new(),
                ice_candidate_pairs: Vec::new(),
            },
        );
    }

    fn ice_state(&mut self, out: &mut Out, line: usize, t: f64, state: &str) {
        let prev = std::mem::replace(&mut self.ice, state.to_owned());
        if prev == state {
            return;
        }
        self.state_change(
            out,
            line,
            t,
            StateChangeType::IceConnectionState,
            &prev,
            state,
        );
        match state {
            "checking" => {
                self.checking_ms.get_or_insert(t);
                if is_up(&prev) {
                    // Chrome and Firefox only re-check a working connection for an ICE restart.
                    self.restarted(out, line, t, state, &prev);
                } else if prev == "disconnected" {
                    self.ice_status(
                        out,
                        line,
                        t,
                        IceEventType::IceConnectionDisruptionEnd,
                        state,
                        &prev,
                        None,
                    );
                }
            }
            "connected" | "completed" => {
                if !self.connected {
                    self.setup(out, line, t);
                } else if let Some(start) = self.disruption_start_ms.take() {
                    self.ice_status(
                        out,
                        line,
                        t,
                        IceEventType::IceDisruptionEnd,
                        state,
                        &prev,
                        Some(since(t, start)),
                    );
                }
                self.disruption_start_ms = None;
                self.restart_signalled = false;
                self.dropped = false;
            }
            "disconnected" => {
                if is_up(&prev) {
                    if self.disruption_start_ms.is_some() {
                        // Already opened by the connection state.
                        return;
                    }
                    self.disruption_start_ms = Some(t);
                    self.ice_status(
                        out,
                        line,
                        t,
                        IceEventType::IceDisruptionStart,
                        state,
                        &prev,
                        None,
                    );
                } else if prev == "checking" {
                    self.ice_status(
                        out,
                        line,
                        t,
                        IceEventType::IceConnectionDisruptionStart,
                        state,
                        &prev,
                        None,
                    );
                }
            }
            "failed" => {
                let delay = self.disruption_start_ms.map(|s| since(t, s));
                self.ice_status(out, line, t, IceEventType::IceFailed, state, &prev, delay);
                if self.connected {
                    self.drop_fabric(out, line, t, Some(&prev));
                } else {
                    self.fail_setup(
                        out,
                        line,
                        t,
                        "the ICE connection state became failed before connecting",
                    );
                }
            }
            "closed" => {
                let kind = if self.connected {
                    IceEventType::IceTerminated
                } else {
                    IceEventType::IceAborted
                };
                self.ice_status(out, line, t, kind, state, &prev, None);
            }
            "new" => self.restarted(out, line, t, state, &prev),
            _ => {}
        }
    }

    fn connection_state(&mut self, out: &mut Out, line: usize, t: f64, state: &str) {
        let prev = std::mem::replace(&mut self.connection, state.to_owned());
        if prev == state {
            return;
        }
        self.state_change(out, line, t, StateChangeType::ConnectionState, &prev, state);
        // The connection state also covers disruptions the ICE state lines do not show (some
        // dumps log only one of the two); whichever reports a disruption first opens it, whichever
        // reports the recovery first ends it.
        match state {
            "connected" if !self.connected => self.setup(out, line, t),
            "connected" => {
                if let Some(start) = self.disruption_start_ms.take() {
                    self.ice_status(
                        out,
                        line,
                        t,
                        IceEventType::IceDisruptionEnd,
                        state,
                        &prev,
                        Some(since(t, start)),
                    );
                }
            }
            "disconnected"
                if self.connected && prev == "connected" && self.disruption_start_ms.is_none() =>
            {
                self.disruption_start_ms = Some(t);
                self.ice_status(
                    out,
                    line,
                    t,
                    IceEventType::IceDisruptionStart,
                    state,
                    &prev,
                    None,
                );
            }
            "failed" if self.connected => self.drop_fabric(out, line, t, None),
            "failed" => {
                self.fail_setup(
                    out,
                    line,
                    t,
                    "the connection state became failed before connecting",
                );
            }
            _ => {}
        }
    }

    /// An ICE restart seen in the states; not counted again when an API call announced it.
    fn restarted(&mut self, out: &mut Out, line: usize, t: f64, curr: &str, prev: &str) {
        if std::mem::take(&mut self.restart_signalled) {
            return;
        }
        self.ice_status(out, line, t, IceEventType::IceRestarted, curr, prev, None);
    }

    /// `restartIce()` or `createOffer({iceRestart: true})`.
    fn signal_restart(&mut self, out: &mut Out, line: usize, t: f64) {
        if self.restart_signalled {
            return;
        }
        self.restart_signalled = true;
        let ice = self.ice.clone();
        self.ice_status(out, line, t, IceEventType::IceRestarted, &ice, &ice, None);
    }

    fn setup(&mut self, out: &mut Out, line: usize, t: f64) {
        self.connected = true;
        let created = self.created_ms;
        out.emit(
            line,
            t,
            FabricSetup {
                remote_id: self.remote_id.clone(),
                connection_id: self.connection_id.clone(),
                delay: Some(since(t, created)),
                ice_gathering_delay: self
                    .gathering_complete_ms
                    .filter(|g| *g <= t)
                    .map(|g| since(g, created)),
                ice_connectivity_delay: self.checking_ms.map(|c| since(t, c)),
                remote_endpoint_type: self.endpoint,
                ..FabricSetup::default()
            },
        );
    }

    fn fail_setup(&mut self, out: &mut Out, line: usize, t: f64, message: &str) {
        if std::mem::replace(&mut self.setup_failed, true) {
            return;
        }
        let created = self.created_ms;
        out.emit(
            line,
            t,
            FabricSetupFailed {
                common: Default::default(),
                remote_id: Some(self.remote_id.clone()),
                connection_id: Some(self.connection_id.clone()),
                reason: FabricSetupFailureReason::IceConnectionFailure,
                name: Some("IceConnectionFailure".to_owned()),
                message: Some(message.to_owned()),
                stack: None,
                delay: Some(since(t, created)),
                ice_gathering_delay: self.gathering_complete_ms.map(|g| since(g, created)),
                ice_connectivity_delay: self.checking_ms.map(|c| since(t, c)),
                local_candidates: Vec::new(),
                remote_candidates: Vec::new(),
                fabric_transmission_direction: None,
                remote_endpoint_type: self.endpoint,
            },
        );
    }

    /// `prev_ice`: the ICE state before, when the ICE state is what failed.
    fn drop_fabric(&mut self, out: &mut Out, line: usize, t: f64, prev_ice: Option<&str>) {
        if std::mem::replace(&mut self.dropped, true) {
            return;
        }
        out.emit(
            line,
            t,
            FabricDropped {
                remote_id: self.remote_id.clone(),
                connection_id: self.connection_id.clone(),
                curr_ice_connection_state: self.ice.parse::<IceConnectionState>().ok(),
                prev_ice_connection_state: prev_ice
                    .and_then(|p| p.parse::<IceConnectionState>().ok()),
                delay: self.disruption_start_ms.map(|s| since(t, s)),
                ..FabricDropped::default()
            },
        );
    }

    fn close(&mut self, out: &mut Out, line: usize, t: f64, reason: &str) {
        self.closed = true;
        out.emit(
            line,
            t,
            FabricTerminated {
                common: Default::default(),
                remote_id: self.remote_id.clone(),
                connection_id: self.connection_id.clone(),
                reason: Some(reason.to_owned()),
            },
        );
    }

    fn stats(
        &mut self,
        out: &mut Out,
        line: usize,
        t: f64,
        payload: &Value,
        missing: MissingTimestamp,
    ) {
        let Some(delta) = delta::as_report_map(payload) else {
            out.error(
                line,
                "getstats payload is neither an object of reports nor an array of them".to_owned(),
            );
            return;
        };
        self.stats = delta::decompress(&self.stats, &delta, t, missing);
        let entries = self.new_ssrcs(&out.local_user, t);
        for chunk in entries.chunks(limits::SSRC_MAP_MAX_ENTRIES) {
            out.emit(
                line,
                t,
                SsrcMap {
                    common: Default::default(),
                    remote_id: self.remote_id.clone(),
                    connection_id: self.connection_id.clone(),
                    ssrc_data: chunk.to_vec(),
                },
            );
        }
        let stats = stats_reports(&self.stats);
        if stats.is_empty() {
            return;
        }
        out.emit(
            line,
            t,
            StatsSample {
                common: Default::default(),
                remote_id: self.remote_id.clone(),
                connection_id: self.connection_id.clone(),
                stats,
                wifi_stats: None,
            },
        );
    }

    /// SSRC map entries for the RTP streams not mapped yet: inbound → the remote user,
    /// outbound → the local user.
    fn new_ssrcs(&mut self, local_user: &str, t: f64) -> Vec<SsrcInfo> {
        let mut entries = Vec::new();
        for (id, r) in &self.stats {
            let report_type = r.get("type").and_then(Value::as_str).unwrap_or_default();
            let Some(inbound) = stream_direction(id, report_type, r) else {
                continue;
            };
            let Some(ssrc) = r.get("ssrc").and_then(ssrc_text) else {
                continue;
            };
            if !self.ssrcs.insert((inbound, ssrc.clone())) {
                continue;
            }
            let media_type = ["kind", "mediaType"]
                .iter()
                .filter_map(|k| r.get(*k)?.as_str())
                .find_map(|m| m.parse::<MediaType>().ok());
            let track = r
                .get("trackIdentifier")
                .and_then(Value::as_str)
                .or_else(|| {
                    let track_id = r.get("trackId")?.as_str()?;
                    self.stats.get(track_id)?.get("trackIdentifier")?.as_str()
                })
                .or_else(|| r.get("googTrackId").and_then(Value::as_str))
                .and_then(|t| clean_id(t, limits::SHORT_TEXT_MAX_BYTES));
            let user = if inbound { &self.remote_id } else { local_user };
            entries.push(SsrcInfo {
                ssrc,
                user_id: Some(user.to_owned()),
                stream_type: Some(if inbound {
                    StreamType::Inbound
                } else {
                    StreamType::Outbound
                }),
                report_type: Some(if inbound {
                    ReportType::Remote
                } else {
                    ReportType::Local
                }),
                media_type,
                track_identifier: track,
                local_start_time: Some(t),
                ..SsrcInfo::default()
            });
        }
        entries
    }
}

/// Whether a report describes a local RTP stream, and which way: `Some(true)` inbound,
/// `Some(false)` outbound. Standard `inbound-rtp`/`outbound-rtp` (without the `isRemote` flag old
/// Firefox put on RTCP-derived ones) and legacy Chrome `ssrc` reports (`ssrc_<n>_recv`/`_send`).
pub fn stream_direction(id: &str, report_type: &str, report: &Map<String, Value>) -> Option<bool> {
    if report.get("isRemote").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    match report_type {
        "inbound-rtp" => Some(true),
        "outbound-rtp" => Some(false),
        "ssrc" if id.ends_with("_recv") => Some(true),
        "ssrc" if id.ends_with("_send") => Some(false),
        "ssrc" if report.contains_key("packetsReceived") => Some(true),
        "ssrc" if report.contains_key("packetsSent") => Some(false),
        _ => None,
    }
}

/// An SSRC as the decimal string SSRC maps use.
fn ssrc_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::Number(n) => n.as_u64()?.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    clean_id(&s, limits::SSRC_MAX_BYTES)
}

/// Types kept first when a sample has more reports than a stats sample may carry.
fn report_priority(report_type: &str) -> u8 {
    match report_type {
        "inbound-rtp" | "outbound-rtp" | "ssrc" => 0,
        "remote-inbound-rtp" | "remote-outbound-rtp" => 1,
        "candidate-pair" | "transport" | "googCandidatePair" | "googComponent" => 2,
        "local-candidate" | "remote-candidate" | "localcandidate" | "remotecandidate" => 3,
        "media-source" | "track" | "media-playout" => 4,
        "codec" => 6,
        _ => 5,
    }
}

/// The reports of a sample in the stats sample shape; certificates are left out, and reports
/// without a usable id or type are skipped.
fn stats_reports(reports: &Reports) -> Vec<StatsReport> {
    let mut out: Vec<StatsReport> = reports
        .iter()
        .filter_map(|(id, r)| {
            let id = clean_id(id, limits::STATS_REPORT_ID_MAX_BYTES).filter(|c| c == id)?;
            let ty = r.get("type")?.as_str()?;
            let ty = clean_id(ty, limits::STATS_REPORT_TYPE_MAX_BYTES).filter(|c| c == ty)?;
            if ty == "certificate" || ty == "googCertificate" {
                return None;
            }
            let timestamp = r.get("timestamp").and_then(delta::number)?;
            let mut other = r.clone();
            other.remove("type");
            other.remove("timestamp");
            other.remove("id");
            Some(StatsReport {
                id,
                r#type: ty,
                timestamp,
                other: other.into(),
            })
        })
        .collect();
    if out.len() > limits::STATS_REPORTS_MAX {
        out.sort_by_key(|r| report_priority(&r.r#type));
        out.truncate(limits::STATS_REPORTS_MAX);
    }
    out
}

/// A failed API call (`createOfferOnFailure`, `navigator.mediaDevices.getUserMediaOnFailure`,
/// ...) as `report_error`; false when the line is not one.
fn report_error(out: &mut Out, e: &Entry, fabric: Option<(&str, &str)>) -> bool {
    let Some(base) = e.method.strip_suffix("OnFailure") else {
        return false;
    };
    let function = match base.rsplit('.').next().unwrap_or(base) {
        "createOffer" => WebRtcFunction::CreateOffer,
        "createAnswer" => WebRtcFunction::CreateAnswer,
        "setLocalDescription" => WebRtcFunction::SetLocalDescription,
        "setRemoteDescription" => WebRtcFunction::SetRemoteDescription,
        "addIceCandidate" => WebRtcFunction::AddIceCandidate,
        "getUserMedia" | "getDisplayMedia" => WebRtcFunction::GetUserMedia,
        _ => return false,
    };
    let (name, message) = match &e.payload {
        Value::String(s) if !s.is_empty() && s.len() <= 64 && !s.contains(char::is_whitespace) => {
            (Some(s.clone()), None)
        }
        Value::String(s) => (None, Some(s.clone())),
        Value::Object(m) => (
            m.get("name").and_then(Value::as_str).map(str::to_owned),
            m.get("message").and_then(Value::as_str).map(str::to_owned),
        ),
        Value::Null => (None, None),
        other => (None, Some(other.to_string())),
    };
    out.emit(
        e.line,
        e.time,
        ReportError {
            common: Default::default(),
            connection_id: fabric.map(|(c, _)| c.to_owned()),
            remote_id: fabric.map(|(_, r)| r.to_owned()),
            web_rtc_function: function,
            name: name.map(|n| clip(&n, limits::SHORT_TEXT_MAX_BYTES)),
            message: message.map(|m| clip(&m, limits::ERROR_MESSAGE_MAX_BYTES)),
            stack: None,
            dom_error: None,
            local_sdp: None,
            remote_sdp: None,
        },
    );
    true
}

// ---------------------------------------------------------------------------------------------
// Text limits
// ---------------------------------------------------------------------------------------------

/// At most `max` bytes, cut at a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A usable identifier: control characters removed, trimmed, at most `max` bytes; `None` when
/// nothing is left.
fn clean_id(s: &str, max: usize) -> Option<String> {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).collect();
    let cleaned = clip(cleaned.trim(), max);
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

#[cfg(test)]
mod tests {
    use callscope_schemas::{Envelope, Origin};
    use serde_json::json;

    use super::*;

    const T0: i64 = 1_600_000_000_000;

    fn line(method: &str, pc: Option<&str>, payload: Value, offset_ms: i64) -> String {
        json!([method, pc, payload, T0 + offset_ms]).to_string()
    }

    fn dump(lines: &[String]) -> String {
        lines.join("\n")
    }

    /// Every event must be exactly what the batch endpoint accepts.
    pub(crate) fn assert_valid(conversion: &Conversion) {
        for (i, e) in conversion.events.iter().enumerate() {
            let item = e.batch_item().expect("serializes");
            let payload = item
                .payload(i)
                .unwrap_or_else(|err| panic!("event {i} ({}) does not decode: {err}", e.kind()));
            assert_eq!(payload, e.payload, "event {i} changed in a round trip");
            let mut env = Envelope::new(
                "app-1",
                "conf-1",
                e.timestamp_ms as i64,
                Origin::Import,
                payload,
            );
            env.user_id = Some(conversion.user_id.clone());
            env.uc_id = Some("uc-1".to_owned());
            env.validate()
                .unwrap_or_else(|err| panic!("event {i} ({}) is invalid: {err}", e.kind()));
        }
    }

    fn kinds(c: &Conversion) -> Vec<&'static str> {
        c.events.iter().map(|e| e.kind().as_str()).collect()
    }

    fn find<'a>(c: &'a Conversion, kind: &str) -> Vec<&'a ImportEvent> {
        c.events
            .iter()
            .filter(|e| e.kind().as_str() == kind)
            .collect()
    }

    #[test]
    fn setup_delay_is_connected_minus_create() {
        let text = dump(&[
            line("create", Some("PC_0"), json!({"iceServers": []}), 0),
            line(
                "onicegatheringstatechange",
                Some("PC_0"),
                json!("gathering"),
                50,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("checking"),
                100,
            ),
            line(
                "onicegatheringstatechange",
                Some("PC_0"),
                json!("complete"),
                300,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                400,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                450,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("disconnected"),
                5_000,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                7_000,
            ),
            line("close", Some("PC_0"), json!({}), 10_000),
        ]);
        let c = convert(&text, "rtcstats-x");
        assert_valid(&c);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.user_id, "rtcstats-x");
        let setup = find(&c, "fabric_setup");
        assert_eq!(setup.len(), 1);
        assert_eq!(setup[0].timestamp_ms, (T0 + 400) as f64);
        let Payload::FabricSetup(s) = &setup[0].payload else {
            panic!("not a setup")
        };
        assert_eq!(s.delay, Some(400.0), "setup delay = connected − create");
        assert_eq!(s.ice_gathering_delay, Some(300.0));
        assert_eq!(s.ice_connectivity_delay, Some(300.0));
        assert_eq!(s.connection_id, "PC_0");
        assert_eq!(s.remote_id, "PC_0-remote");

        let ice: Vec<_> = find(&c, "ice_status")
            .into_iter()
            .map(|e| match &e.payload {
                Payload::IceStatus(s) => (s.event_type, e.timestamp_ms, s.delay),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            ice,
            [
                (IceEventType::IceDisruptionStart, (T0 + 5_000) as f64, None),
                (
                    IceEventType::IceDisruptionEnd,
                    (T0 + 7_000) as f64,
                    Some(2_000.0)
                ),
            ]
        );
        let terminated = find(&c, "fabric_terminated");
        assert_eq!(terminated.len(), 1);
        assert_eq!(terminated[0].timestamp_ms, (T0 + 10_000) as f64);
        // 2 gathering + 4 ICE + 1 connection state changes.
        assert_eq!(find(&c, "fabric_state_change").len(), 7);
        assert_eq!(kinds(&c).first(), Some(&"user_joined"));
        assert_eq!(kinds(&c).last(), Some(&"user_left"));
        assert_eq!(c.events[0].timestamp_ms, T0 as f64);
        assert_eq!(
            c.events.last().map(|e| e.timestamp_ms),
            Some((T0 + 10_000) as f64)
        );
    }

    #[test]
    fn ice_failure_before_connecting_is_a_setup_failure() {
        let text = dump(&[
            line("create", Some("PC_1"), json!({}), 0),
            line(
                "oniceconnectionstatechange",
                Some("PC_1"),
                json!("checking"),
                200,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_1"),
                json!("failed"),
                15_200,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_1"),
                json!("failed"),
                15_201,
            ),
        ]);
        let c = convert(&text, "u");
        assert_valid(&c);
        assert!(find(&c, "fabric_setup").is_empty());
        let failed = find(&c, "fabric_setup_failed");
        assert_eq!(failed.len(), 1, "one failure, not one per state");
        let Payload::FabricSetupFailed(f) = &failed[0].payload else {
            unreachable!()
        };
        assert_eq!(f.reason, FabricSetupFailureReason::IceConnectionFailure);
        assert_eq!(f.delay, Some(15_200.0));
        assert_eq!(f.connection_id.as_deref(), Some("PC_1"));
        assert!(find(&c, "fabric_dropped").is_empty());
        // Never closed: terminated at the end of the dump.
        let terminated = find(&c, "fabric_terminated");
        assert_eq!(terminated[0].timestamp_ms, (T0 + 15_201) as f64);
        assert_eq!(terminated[0].line, 4);
    }

    #[test]
    fn failure_after_connecting_is_a_drop_and_restarts_are_counted_once() {
        let text = dump(&[
            line("create", Some("A"), json!({}), 0),
            line(
                "oniceconnectionstatechange",
                Some("A"),
                json!("checking"),
                10,
            ),
            line(
                "oniceconnectionstatechange",
                Some("A"),
                json!("connected"),
                20,
            ),
            line("restartIce", Some("A"), Value::Null, 1_000),
            line(
                "oniceconnectionstatechange",
                Some("A"),
                json!("checking"),
                1_010,
            ),
            line(
                "oniceconnectionstatechange",
                Some("A"),
                json!("connected"),
                1_050,
            ),
            line("createOffer", Some("A"), json!({"iceRestart": true}), 2_000),
            line(
                "oniceconnectionstatechange",
                Some("A"),
                json!("disconnected"),
                3_000,
            ),
            line(
                "oniceconnectionstatechange",
                Some("A"),
                json!("failed"),
                4_000,
            ),
            line("onconnectionstatechange", Some("A"), json!("failed"), 4_001),
        ]);
        let c = convert(&text, "u");
        assert_valid(&c);
        let events: Vec<_> = find(&c, "ice_status")
            .into_iter()
            .map(|e| match &e.payload {
                Payload::IceStatus(s) => s.event_type,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            events,
            [
                IceEventType::IceRestarted,
                IceEventType::IceRestarted,
                IceEventType::IceDisruptionStart,
                IceEventType::IceFailed,
            ]
        );
        assert_eq!(find(&c, "fabric_dropped").len(), 1);
        assert!(find(&c, "fabric_setup_failed").is_empty());
    }

    #[test]
    fn connection_state_disruptions_count_when_ice_does_not_show_them() {
        let text = dump(&[
            line("create", Some("PC_0"), json!({}), 0),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("checking"),
                10,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                50,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                60,
            ),
            // Both report the same disruption: counted once.
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("disconnected"),
                1_000,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("disconnected"),
                1_001,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                2_000,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                2_001,
            ),
            // Only the connection state reports these.
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("disconnected"),
                5_000,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                6_000,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("disconnected"),
                7_000,
            ),
            line(
                "onconnectionstatechange",
                Some("PC_0"),
                json!("failed"),
                9_000,
            ),
        ]);
        let c = convert(&text, "u");
        assert_valid(&c);
        let events: Vec<_> = find(&c, "ice_status")
            .into_iter()
            .map(|e| match &e.payload {
                Payload::IceStatus(s) => (s.event_type, s.delay),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            events,
            [
                (IceEventType::IceDisruptionStart, None),
                (IceEventType::IceDisruptionEnd, Some(1_000.0)),
                (IceEventType::IceDisruptionStart, None),
                (IceEventType::IceDisruptionEnd, Some(1_000.0)),
                (IceEventType::IceDisruptionStart, None),
            ]
        );
        let dropped = find(&c, "fabric_dropped");
        assert_eq!(dropped.len(), 1);
        let Payload::FabricDropped(d) = &dropped[0].payload else {
            unreachable!()
        };
        assert_eq!(d.delay, Some(2_000.0), "the drop ends a disruption of 2 s");
    }

    #[test]
    fn a_malformed_line_is_reported_by_number_and_skipped() {
        let text = [
            line("create", Some("PC_0"), json!({}), 0),
            "{\"not\": \"an array\"}".to_owned(),
            "[\"oniceconnectionstatechange\", \"PC_0\", \"checking\"".to_owned(),
            String::new(),
            "[42, null, null, 1]".to_owned(),
            line(
                "oniceconnectionstatechange",
                Some("PC_0"),
                json!("connected"),
                500,
            ),
        ]
        .join("\n");
        let c = convert(&text, "u");
        assert_valid(&c);
        let lines: Vec<_> = c.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 5]);
        assert!(
            c.errors[0]
                .message
                .starts_with("not a JSON array: {\"not\""),
            "{}",
            c.errors[0]
        );
        assert!(
            c.errors[1].message.starts_with("invalid JSON: "),
            "{}",
            c.errors[1]
        );
        assert!(c.errors[2].message.contains("method"), "{}", c.errors[2]);
        assert_eq!(
            c.errors[0].to_string(),
            format!("2: {}", c.errors[0].message)
        );
        // The rest went on: the PC connected.
        assert_eq!(find(&c, "fabric_setup").len(), 1);
        assert_eq!(c.lines, 6);
    }

    #[test]
    fn the_user_joins_at_the_first_event_not_at_the_page_load() {
        // getUserMedia 40 s before the first connection makes no event: the SDK would have sent
        // nothing yet, and a join then would leave the conference silent past its timeout.
        let text = dump(&[
            line(
                "navigator.mediaDevices.getUserMedia",
                None,
                json!({"audio": true}),
                0,
            ),
            line(
                "navigator.mediaDevices.getUserMediaOnSuccess",
                None,
                json!({}),
                500,
            ),
            line("create", Some("PC_0"), json!({}), 40_000),
            line("close", Some("PC_0"), json!({}), 50_000),
        ]);
        let c = convert(&text, "u");
        assert_valid(&c);
        assert_eq!(kinds(&c).first(), Some(&"user_joined"));
        assert_eq!(c.events[0].timestamp_ms, (T0 + 40_000) as f64);
        assert_eq!(c.events[1].timestamp_ms, (T0 + 40_000) as f64);
    }

    #[test]
    fn identity_names_the_user_and_connection_info_the_browser() {
        let text = dump(&[
            json!(["connectionInfo", null, json!({"userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/118.0"}).to_string(), T0 + 9_999_999]).to_string(),
            line("identity", None, json!({"userId": null, "displayName": "Kelton", "endpointId": "78a1c829", "confName": "Room", "meetingUniqueId": "m-1"}), 5),
            line("create", Some("PC_0"), json!({}), 10),
            line("constraints", Some("PC_0"), json!({"optional": [{"rtcStatsSFUP2P": true}]}), 10),
        ]);
        let c = convert(&text, "fallback");
        assert_valid(&c);
        assert_eq!(c.user_id, "Kelton");
        let Payload::UserJoined(j) = &c.events[0].payload else {
            panic!("first is not the join")
        };
        assert_eq!(j.endpoint_info.name.as_deref(), Some("Firefox"));
        assert_eq!(j.endpoint_info.version.as_deref(), Some("118.0"));
        assert_eq!(j.endpoint_info.os.as_deref(), Some("Mac OS X"));
        assert_eq!(j.endpoint_info.os_version.as_deref(), Some("10.15"));
        assert_eq!(
            j.additional_ids
                .as_ref()
                .and_then(|a| a.meetings_name.as_deref()),
            Some("Room")
        );
        // Metadata times do not move the call's start or end.
        assert_eq!(c.events[0].timestamp_ms, (T0 + 10) as f64);
        assert_eq!(
            c.events.last().map(|e| e.timestamp_ms),
            Some((T0 + 10) as f64)
        );
        let Payload::FabricCreated(f) = &find(&c, "fabric_created")[0].payload else {
            unreachable!()
        };
        assert_eq!(f.remote_endpoint_type, Some(EndpointType::Peer));
    }

    #[test]
    fn stats_become_full_samples_with_ssrc_maps() {
        let text = dump(&[
            line("create", Some("PC_0"), json!({}), 0),
            line(
                "getstats",
                Some("PC_0"),
                json!({
                    "IN": {"timestamp": 0, "type": "inbound-rtp", "ssrc": 11, "kind": "audio", "packetsReceived": 50, "packetsLost": 1, "trackId": "TR"},
                    "TR": {"timestamp": 0, "type": "track", "trackIdentifier": "t-1"},
                    "OUT": {"timestamp": 0, "type": "outbound-rtp", "ssrc": 22, "kind": "video", "packetsSent": 70},
                    "CERT": {"timestamp": 0, "type": "certificate", "fingerprint": "x"},
                    "timestamp": T0 + 990
                }),
                1_000,
            ),
            line(
                "getstats",
                Some("PC_0"),
                json!({
                    "IN": {"timestamp": 0, "packetsReceived": 150},
                    "OUT": {},
                    "TR": {"timestamp": 0},
                    "timestamp": T0 + 1_990
                }),
                2_000,
            ),
        ]);
        let c = convert(&text, "me");
        assert_valid(&c);
        let maps = find(&c, "ssrc_map");
        assert_eq!(maps.len(), 1, "SSRCs are mapped once");
        let Payload::SsrcMap(m) = &maps[0].payload else {
            unreachable!()
        };
        let entries: Vec<_> = m
            .ssrc_data
            .iter()
            .map(|s| {
                (
                    s.ssrc.as_str(),
                    s.user_id.as_deref(),
                    s.stream_type,
                    s.track_identifier.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                (
                    "11",
                    Some("PC_0-remote"),
                    Some(StreamType::Inbound),
                    Some("t-1")
                ),
                ("22", Some("me"), Some(StreamType::Outbound), None),
            ]
        );
        let samples = find(&c, "stats_sample");
        assert_eq!(samples.len(), 2);
        let Payload::StatsSample(last) = &samples[1].payload else {
            unreachable!()
        };
        let by_id: HashMap<&str, &StatsReport> =
            last.stats.iter().map(|r| (r.id.as_str(), r)).collect();
        assert!(!by_id.contains_key("CERT"), "certificates are left out");
        assert_eq!(by_id["IN"].number("packetsReceived"), Some(150.0));
        assert_eq!(
            by_id["IN"].number("packetsLost"),
            Some(1.0),
            "unchanged member kept"
        );
        assert_eq!(by_id["IN"].timestamp, (T0 + 1_990) as f64);
        assert_eq!(
            by_id["OUT"].timestamp,
            (T0 + 990) as f64,
            "no timestamp: unchanged"
        );
        assert_eq!(by_id["OUT"].r#type, "outbound-rtp");
    }

    #[test]
    fn lines_before_create_and_after_close_are_ignored_and_a_pc_without_create_starts_at_its_first_line()
     {
        let text = dump(&[
            line("onnegotiationneeded", Some("PC_1"), Value::Null, 0),
            line("create", Some("PC_1"), json!({}), 100),
            line("close", Some("PC_1"), json!({}), 200),
            line(
                "getstats",
                Some("PC_1"),
                json!({"x": {"type": "codec", "timestamp": 0}}),
                300,
            ),
            line(
                "oniceconnectionstatechange",
                Some("PC_9"),
                json!("checking"),
                400,
            ),
            line(
                "navigator.mediaDevices.getUserMediaOnFailure",
                None,
                json!("NotReadableError"),
                450,
            ),
            line(
                "setRemoteDescriptionOnFailure",
                Some("PC_9"),
                json!("OperationError: Failed to set remote answer sdp"),
                460,
            ),
        ]);
        let c = convert(&text, "u");
        assert_valid(&c);
        let created: Vec<_> = find(&c, "fabric_created")
            .into_iter()
            .map(|e| (e.line, e.timestamp_ms))
            .collect();
        assert_eq!(created, [(2, (T0 + 100) as f64), (5, (T0 + 400) as f64)]);
        assert!(find(&c, "stats_sample").is_empty());
        let errors = find(&c, "report_error");
        assert_eq!(errors.len(), 2);
        let Payload::ReportError(gum) = &errors[0].payload else {
            unreachable!()
        };
        assert_eq!(gum.web_rtc_function, WebRtcFunction::GetUserMedia);
        assert_eq!(gum.name.as_deref(), Some("NotReadableError"));
        assert_eq!(gum.connection_id, None);
        let Payload::ReportError(srd) = &errors[1].payload else {
            unreachable!()
        };
        assert_eq!(srd.connection_id.as_deref(), Some("PC_9"));
        assert!(c.ignored >= 2);
    }

    #[test]
    fn unknown_methods_and_missing_times_do_not_break_the_conversion() {
        let text = dump(&[
            line("create", Some("PC_0"), json!({}), 0),
            json!(["e2eRtt", null, {"rtt": 223}]).to_string(),
            json!(["hologram", "PC_0", {"x": 1}, T0 + 50]).to_string(),
            json!(["oniceconnectionstatechange", "PC_0", "connected"]).to_string(),
            json!(["onconnectionstatechange", "PC_0", null, T0 + 90]).to_string(),
        ]);
        let c = convert(&text, "u");
        assert_valid(&c);
        let setup = find(&c, "fabric_setup");
        assert_eq!(
            setup[0].timestamp_ms,
            (T0 + 50) as f64,
            "a missing time is the previous line's"
        );
        assert_eq!(
            c.errors.len(),
            1,
            "a state change without a state is reported"
        );
        assert_eq!(c.errors[0].line, 5);
    }

    #[test]
    fn v3_framing_with_relative_times_is_read() {
        let text = [
            "RTCStatsDump".to_owned(),
            json!({"fileFormat": 3, "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}).to_string(),
            json!([39, "1", {}, T0]).to_string(),
            json!([24, "1", "checking", 100]).to_string(),
            json!([24, "1", "connected", 150]).to_string(),
            json!(["g", "1", {"5": {"type": "inbound-rtp", "ssrc": 9, "packetsReceived": 1}, "t": 1}, 1_000]).to_string(),
            json!([36, "1", null, 2_000]).to_string(),
        ]
        .join("\n");
        let c = convert(&text, "u");
        assert_valid(&c);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        let setup = find(&c, "fabric_setup");
        assert_eq!(setup[0].timestamp_ms, (T0 + 250) as f64, "deltas add up");
        let Payload::FabricSetup(s) = &setup[0].payload else {
            unreachable!()
        };
        assert_eq!(s.delay, Some(250.0));
        assert_eq!(find(&c, "stats_sample").len(), 1);
        assert_eq!(
            find(&c, "fabric_terminated")[0].timestamp_ms,
            (T0 + 3_250) as f64
        );
        let Payload::UserJoined(j) = &c.events[0].payload else {
            unreachable!()
        };
        assert_eq!(j.endpoint_info.name.as_deref(), Some("Chrome"));
        assert_eq!(j.endpoint_info.os.as_deref(), Some("Windows"));
    }

    #[test]
    fn user_agents() {
        let chrome = parse_user_agent(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.51 Safari/537.36",
        );
        assert_eq!(
            (chrome.browser, chrome.browser_version),
            (Some("Chrome"), Some("99.0.4844.51"))
        );
        assert_eq!(
            (chrome.os, chrome.os_version.as_deref()),
            (Some("Windows"), Some("10"))
        );
        let safari = parse_user_agent(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(
            (safari.browser, safari.browser_version),
            (Some("Safari"), Some("15.0"))
        );
        assert_eq!(
            (safari.os, safari.os_version.as_deref()),
            (Some("iOS"), Some("15.0"))
        );
        let android = parse_user_agent(
            "Mozilla/5.0 (Linux; Android 12; Pixel 5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0 Mobile Safari/537.36",
        );
        assert_eq!(android.os, Some("Android"));
        assert_eq!(parse_user_agent("curl/8"), UserAgent::default());
    }

    #[test]
    fn ids_are_kept_within_limits() {
        assert_eq!(
            conference_id_for(Path::new("dumps/abc.jsonl")),
            "import-abc"
        );
        assert_eq!(fallback_user_id_for(Path::new("/x/59c8")), "rtcstats-59c8");
        let long = "p".repeat(400);
        assert!(remote_id_for(&long).len() <= limits::USER_ID_MAX_BYTES);
        assert_eq!(clean_id(" a\u{7}b ", 10).as_deref(), Some("ab"));
        assert_eq!(clip("héllo", 2), "h");
    }
}

#!/usr/bin/env python3
"""Works out the golden answers of query/tests/golden.rs from the scripted dataset
(golden/dataset.rs), independently of the Rust code: every value below is either copied
from the script (times, ids, counters) or computed here from the formulas of docs/quality.md,
docs/processor.md and docs/query.md. README.md explains each step. Run it from anywhere:

    python3 query/tests/golden/derive.py      # rewrites query/tests/golden/*.json

It never reads the service's output. Columns that concurrent work is still adding to `fabrics`
(packets_received, packets_received_lost, packets_sent, packets_sent_lost, received_loss_pct,
sent_loss_pct) are not listed; the test tolerates fields an answer has beyond the expected ones.
"""
import json, math, os

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_700_000_000_000          # 2023-11-14T22:13:20Z, conference A
TB = T0 + 3_600_000             # conference B
FROM, TO, HOUR = 1_699_999_200_000, 1_700_006_400_000, 3_600_000

# ---------------------------------------------------------------------------------------------
# Quality formulas (docs/quality.md §2, §3, §4)

def mos_of_r(r):
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)

def audio_mos(loss_pct, rtt_ms, jb_ms):
    d = rtt_ms / 2 + jb_ms + 20                      # one-way delay
    i_d = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0)
    ie_eff = 95 * loss_pct / (loss_pct + 25)         # Opus as G.711+PLC: Ie 0, Bpl 25, BurstR 1
    return mos_of_r(93.2 - i_d - ie_eff)

def video_score(bitrate, w, h, fps, delay_ms, loss_pct):
    content = min(5, max(1, 0.56 * math.log(bitrate / (w * h) / fps) + 5.36)) - 0.002 * delay_ms
    content = min(5, max(1, content))
    network = 1 + 4 * min(100, max(0, 100 - 10 * loss_pct)) / 100
    return min(5, max(1, min(content, network)))

def audio_band(m):
    return "excellent" if m >= 4.339 else "good" if m >= 4.024 else "fair" if m >= 3.597 else "poor" if m >= 3.1 else "bad"

def video_band(s):
    return "excellent" if s >= 4.5 else "good" if s >= 3.5 else "fair" if s >= 2.5 else "poor" if s >= 1.5 else "bad"

def percentile(values, p):
    v = sorted(values); pos = p * (len(v) - 1); lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)

# Conference A's scored intervals (receive side):
# alice pc-ab inbound 1001 (bob's voice), 10 000 → 20 000: received 2000 − 1000 = 1000, lost
# 60 − 10 = 50 → 100·50/1050 %; jitter-buffer (50 − 10) s / (1250 − 250) = 40 ms; RTT 20 ms
# from the candidate pair; bytes 1 350 000 − 100 000 = 1 250 000 over 10 s.
A_LOSSY_LOSS = 100 * 50 / 1050
A_LOSSY = audio_mos(A_LOSSY_LOSS, 20, 40)
# 30 000: packetsReceived 100 < 2000: a reset (baseline). 30 000 → 40 000: 500 received, 0 lost,
# (21 − 1)/(525 − 25) = 40 ms, bytes 62 500 over 10 s; first interval after a reset: after_gap.
A_CLEAN = audio_mos(0, 20, 40)
# bob pc-ba inbound 5001 (carol's voice by the ssrc map), 10 000 → 20 000: 500 received, 0 lost,
# 12 s / 300 = 40 ms, no RTT anywhere on pc-ba (counts as 0), 40 000 bytes over 10 s.
A_CAROL = audio_mos(0, 0, 40)
# Conference B, dave pc-de, 10 000 → 20 000, RTT 50 ms from the candidate pair:
# audio 3001: received 2900 − 1000 = 1900, lost 100 → 5 %; (50 − 10)/(1250 − 250) = 40 ms;
# bytes 300 000 → 240 000 bit/s; jitter 5 ms.
B_AUDIO = audio_mos(5.0, 50, 40)
# video 3002: bytes 1 875 000 → 1 500 000 bit/s; frames 300 / 10 s = 30 fps; 1280×720; no loss;
# delay = RTT/2 + no jitter-buffer delay = 25 ms.
B_VIDEO = video_score(1_500_000, 1280, 720, 30, 25, 0)

BOB_MOS = (A_LOSSY + A_CLEAN) / 2      # two 10 s intervals, time-weighted
CAROL_MOS = A_CAROL
ERIN_MOS, ERIN_VIDEO = B_AUDIO, B_VIDEO
A_MEAN_MOS = (A_LOSSY + A_CLEAN + A_CAROL) / 3   # time-weighted over every associated user
B_MEAN_MOS = B_AUDIO

# ---------------------------------------------------------------------------------------------
# Summary rows (docs/processor.md "What a closed segment produces")

def conference_row(c):
    return {k: v for k, v in c.items()}

A_DELAYS = [850.0, 1200.0, 600.0]     # pc-ab 1850−1000, pc-ac 2200−1000, pc-ba 1700−1100
B_DELAYS = [400.0, 1000.0]            # pc-de 900−500, pc-ed 1600−600
CONF_A = {
    "conference_id": "golden-a", "segment": 0,
    "start_time": T0 + 1050,            # first fabric_created, received
    "end_time": T0 + 51_050,            # carol leaves: everyone done
    "duration_ms": 50_000, "end_reason": "all_left",
    "last_event_at": T0 + 53_050,       # carol's feedback, inside the 10 s grace
    "users": 3, "fabrics": 4, "fabrics_setup": 3, "fabrics_failed": 1,
    "setup_status": "partially_failed",
    "setup_delay_min_ms": 600.0, "setup_delay_max_ms": 1200.0,
    "setup_delay_mean_ms": sum(A_DELAYS) / 3, "setup_delay_median_ms": 850.0,
    "failures_by_reason": {"IceConnectionFailure": 1},
    # pc-ab, pc-ac, pc-ba hung up; pc-ca never terminated, the call ended all_left
    "termination_reasons": {"hangup": 3, "user_left": 1},
    "mean_mos": A_MEAN_MOS, "worst_user_mos": BOB_MOS, "worst_user_id": "bob",
    "mean_video_score": None, "worst_user_video_score": None,
    "feedback_mean": (2 + 4) / 2, "feedback_count": 2,
    "relay_share": 1 / 2,               # pc-ab relayed, pc-ac direct, pc-ba unknown
    "browsers": ["Chrome", "Firefox", "Safari"], "os": ["Windows", "iOS", "macOS"],
    "app_versions": ["2.0", "2.1"], "site_ids": ["hq"],
}
CONF_B = {
    "conference_id": "golden-b", "segment": 0,
    "start_time": TB + 550, "end_time": TB + 30_550, "duration_ms": 30_000, "end_reason": "all_left",
    "last_event_at": TB + 31_050,
    "users": 2, "fabrics": 2, "fabrics_setup": 2, "fabrics_failed": 0, "setup_status": "success",
    "setup_delay_min_ms": 400.0, "setup_delay_max_ms": 1000.0,
    "setup_delay_mean_ms": 700.0, "setup_delay_median_ms": 700.0,
    "failures_by_reason": None, "termination_reasons": {"hangup": 2},
    "mean_mos": B_MEAN_MOS, "worst_user_mos": ERIN_MOS, "worst_user_id": "erin",
    "mean_video_score": ERIN_VIDEO, "worst_user_video_score": ERIN_VIDEO,
    "feedback_mean": 5.0, "feedback_count": 1,
    "relay_share": 1 / 2,               # pc-ed turn/tcp, pc-de direct
    "browsers": ["Chrome"], "os": ["Android", "Linux"], "app_versions": ["2.2"],
    "site_ids": ["hq", "remote"],
}
LIST_COLUMNS = ["conference_id", "segment", "start_time", "end_time", "duration_ms", "end_reason",
    "users", "fabrics", "fabrics_setup", "fabrics_failed", "setup_status", "setup_delay_median_ms",
    "setup_delay_max_ms", "mean_mos", "worst_user_mos", "worst_user_id", "mean_video_score",
    "worst_user_video_score", "feedback_mean", "feedback_count", "relay_share", "browsers", "os",
    "app_versions"]

def list_entry(c):
    return {k: c[k] for k in LIST_COLUMNS}

def detail_row(c):
    return {k: v for k, v in c.items() if k != "conference_id"}

# ---------------------------------------------------------------------------------------------
# Overview (docs/query.md): buckets of 1 h at 22:00 (A) and 23:00 (B)

def point(t, confs, delays, feedback):
    known = len(confs)
    succ = sum(c["setup_status"] == "success" for c in confs)
    part = sum(c["setup_status"] == "partially_failed" for c in confs)
    fail = sum(c["setup_status"] == "failed" for c in confs)
    mos = [c["mean_mos"] for c in confs if c["mean_mos"] is not None]
    vid = [c["mean_video_score"] for c in confs if c["mean_video_score"] is not None]
    p = {"conferences": len(confs), "participants": sum(c["users"] for c in confs),
         "fabrics": sum(c["fabrics"] for c in confs),
         "setup_success": succ, "setup_partial": part, "setup_failed": fail,
         "setup_success_rate": succ / known, "setup_partial_rate": part / known,
         "setup_failure_rate": fail / known,
         "setup_delay_p50_ms": percentile(delays, 0.5), "setup_delay_p95_ms": percentile(delays, 0.95),
         "mean_mos": sum(mos) / len(mos) if mos else None,
         "mean_video_score": sum(vid) / len(vid) if vid else None,
         "feedback_mean": sum(feedback) / len(feedback), "feedback_count": len(feedback)}
    if t is not None:
        p = {"t": t, **p}
    return p

overview = {
    "from": FROM, "to": TO, "interval_ms": HOUR,
    "totals": point(None, [CONF_A, CONF_B], A_DELAYS + B_DELAYS, [2, 4, 5]),
    "series": [point(FROM, [CONF_A], A_DELAYS, [2, 4]),
               point(FROM + HOUR, [CONF_B], B_DELAYS, [5])],
}

# ---------------------------------------------------------------------------------------------
# Breakdowns: users = user_quality rows; fabrics = set-up fabrics (relay) / failed (reasons)

USERS = [  # (user, conference, browser, os, app_version, endpoint_type, mean_mos, mean_video)
    ("alice", "golden-a", "Chrome", "macOS", "2.1", "browser", None, None),
    ("bob", "golden-a", "Firefox", "Windows", "2.1", "browser", BOB_MOS, None),
    ("carol", "golden-a", "Safari", "iOS", "2.0", "browser", CAROL_MOS, None),
    ("dave", "golden-b", "Chrome", "Linux", "2.2", "browser", None, None),
    ("erin", "golden-b", "Chrome", "Android", "2.2", "browser", ERIN_MOS, ERIN_VIDEO),
]

def user_breakdown(dim, index):
    groups = {}
    for u in USERS:
        groups.setdefault(u[index], []).append(u)
    total = len(USERS)
    rows = []
    for value, us in groups.items():
        row = {"value": value, "count": len(us), "share": len(us) / total,
               "conferences": len({u[1] for u in us})}
        mos = [u[6] for u in us if u[6] is not None]
        vid = [u[7] for u in us if u[7] is not None]
        if mos: row["mean_mos"] = sum(mos) / len(mos)
        if vid: row["mean_video_score"] = sum(vid) / len(vid)
        rows.append(row)
    rows.sort(key=lambda r: (-r["count"], r["value"]))
    return {"dimension": dim, "unit": "users", "from": FROM, "to": TO, "total": total, "rows": rows}

SETUP_FABRICS = [  # (connection, conference, relay type, delay)
    ("pc-ab", "golden-a", "turn/udp", 850.0), ("pc-ac", "golden-a", "direct", 1200.0),
    ("pc-ba", "golden-a", "unknown", 600.0), ("pc-de", "golden-b", "direct", 400.0),
    ("pc-ed", "golden-b", "turn/tcp", 1000.0),
]
def relay_breakdown():
    groups = {}
    for f in SETUP_FABRICS:
        groups.setdefault(f[2], []).append(f)
    rows = [{"value": v, "count": len(fs), "share": len(fs) / len(SETUP_FABRICS),
             "conferences": len({f[1] for f in fs}),
             "setup_delay_p50_ms": percentile([f[3] for f in fs], 0.5)} for v, fs in groups.items()]
    rows.sort(key=lambda r: (-r["count"], r["value"]))
    return {"dimension": "relay_type", "unit": "fabrics", "from": FROM, "to": TO,
            "total": len(SETUP_FABRICS), "rows": rows}

breakdowns = {
    "browser": user_breakdown("browser", 2), "os": user_breakdown("os", 3),
    "app_version": user_breakdown("app_version", 4), "endpoint_type": user_breakdown("endpoint_type", 5),
    "relay_type": relay_breakdown(),
    # carol's pc-ca, fabricSetupFailed IceConnectionFailure: category ice_nat (docs/quality.md §6)
    "failure_reason": {"dimension": "failure_reason", "unit": "fabrics", "from": FROM, "to": TO,
        "total": 1, "rows": [{"value": "IceConnectionFailure", "count": 1, "share": 1.0,
                              "conferences": 1, "failure_category": "ice_nat"}]},
}

# ---------------------------------------------------------------------------------------------
# Conference lists

def clist(sort, confs, cursor=None):
    return {"from": FROM, "to": TO, "sort": sort, "next_cursor": cursor,
            "conferences": [list_entry(c) for c in confs]}

lists = {
    "recent": clist("recent", [CONF_B, CONF_A]),                 # B started 1 h later
    "worst_quality": clist("worst_quality", [CONF_B, CONF_A]),   # 3.836 (erin) < 4.126 (bob)
    "longest_setup": clist("longest_setup", [CONF_A, CONF_B]),   # 1200 > 1000
    "failed": clist("failed", [CONF_A]),                         # only A has a failed fabric
    "recent_page1": clist("recent", [CONF_B], "<cursor>"),
}

# ---------------------------------------------------------------------------------------------
# One conference in full

def events(t0, rows):
    """rows: (offset, t, kind, user, connection, remote, event_type); received = t0 + t + 50."""
    return [{"received_at": t0 + t + 50, "client_ts": t0 + t, "kind": kind, "event_type": et,
             "origin": "js_sdk", "schema_version": 1, "uc_id": f"uc-{user}", "user_id": user,
             "connection_id": conn, "remote_user_id": remote, "bus_partition": 0, "bus_offset": off}
            for off, t, kind, user, conn, remote, et in rows]

ICE = "iceConnectionState"
EVENTS_A = events(T0, [
    (0, 0, "user_joined", "alice", None, None, None),
    (1, 100, "user_joined", "bob", None, None, None),
    (2, 200, "user_joined", "carol", None, None, None),
    (3, 1000, "fabric_created", "alice", "pc-ab", "bob", None),
    (3, 1000, "fabric_created", "alice", "pc-ac", "carol", None),
    (4, 1100, "fabric_created", "bob", "pc-ba", "alice", None),
    (5, 1100, "fabric_state_change", "alice", "pc-ab", "bob", ICE),
    (6, 1200, "fabric_created", "carol", "pc-ca", "alice", None),
    (7, 1300, "fabric_state_change", "carol", "pc-ca", "alice", ICE),
    (8, 1700, "fabric_setup", "bob", "pc-ba", "alice", None),
    (9, 1800, "fabric_state_change", "alice", "pc-ab", "bob", ICE),
    (10, 1850, "fabric_setup", "alice", "pc-ab", "bob", None),
    (11, 2200, "fabric_setup", "alice", "pc-ac", "carol", None),
    (12, 6100, "report_error", "carol", "pc-ca", "alice", "iceConnectionFailure"),
    (13, 6200, "fabric_setup_failed", "carol", "pc-ca", "alice", "IceConnectionFailure"),
    (14, 9000, "ssrc_map", "bob", "pc-ba", "alice", None),
    (15, 10_000, "stats_sample", "alice", "pc-ab", "bob", None),
    (16, 10_000, "stats_sample", "bob", "pc-ba", "alice", None),
    (17, 20_000, "stats_sample", "alice", "pc-ab", "bob", None),
    (18, 20_000, "stats_sample", "bob", "pc-ba", "alice", None),
    (19, 25_000, "fabric_state_change", "alice", "pc-ab", "bob", ICE),
    (20, 27_000, "fabric_state_change", "alice", "pc-ab", "bob", ICE),
    (21, 30_000, "stats_sample", "alice", "pc-ab", "bob", None),
    (22, 40_000, "stats_sample", "alice", "pc-ab", "bob", None),
    (23, 50_000, "fabric_terminated", "alice", "pc-ab", "bob", None),
    (23, 50_000, "fabric_terminated", "alice", "pc-ac", "carol", None),
    (24, 50_500, "fabric_terminated", "bob", "pc-ba", "alice", None),
    (25, 51_000, "user_left", "carol", None, None, None),
    (26, 52_000, "feedback", "alice", None, None, None),
    (27, 53_000, "feedback", "carol", None, None, None),
])
# B's records follow A's 28 records on the one partition: offsets 28..38.
EVENTS_B = events(TB, [
    (28, 0, "user_joined", "dave", None, None, None),
    (29, 100, "user_joined", "erin", None, None, None),
    (30, 500, "fabric_created", "dave", "pc-de", "erin", None),
    (31, 600, "fabric_created", "erin", "pc-ed", "dave", None),
    (32, 900, "fabric_setup", "dave", "pc-de", "erin", None),
    (33, 1600, "fabric_setup", "erin", "pc-ed", "dave", None),
    (34, 10_000, "stats_sample", "dave", "pc-de", "erin", None),
    (35, 20_000, "stats_sample", "dave", "pc-de", "erin", None),
    (36, 30_000, "fabric_terminated", "dave", "pc-de", "erin", None),
    (37, 30_500, "fabric_terminated", "erin", "pc-ed", "dave", None),
    (38, 31_000, "feedback", "dave", None, None, None),
])

def fabric(t0, conn, user, remote, created, **kw):
    row = {"segment": 0, "connection_id": conn, "user_id": user, "uc_id": f"uc-{user}",
           "remote_user_id": remote, "fabric_usage": "multiplex", "remote_endpoint_type": None,
           "transmission_direction": None, "created_at": t0 + created, "setup_at": None,
           "failed_at": None, "terminated_at": None, "setup_delay_ms": None,
           "ice_gathering_ms": None, "ice_connectivity_ms": None, "dtls_ms": None,
           "outcome": "setup", "failure_reason": None, "failure_category": None,
           "failed_function": None, "relayed": None, "relay_protocol": None,
           "local_candidate_type": None, "remote_candidate_type": None, "transport_protocol": None,
           "ice_restarts": 0, "disruptions": 0, "disrupted_ms": 0.0, "transport_changes": 0,
           "dropped": False, "terminated_reason": None, "duration_ms": None, "last_event_at": None,
           "dropped_at": None, "recovered_disruptions": 0}
    row.update(kw)
    return row

FABRICS_A = [
    fabric(T0, "pc-ab", "alice", "bob", 1000, setup_at=T0 + 1850, setup_delay_ms=850.0,
           terminated_at=T0 + 50_000, terminated_reason="hangup", duration_ms=49_000,
           ice_gathering_ms=120.0, dtls_ms=30.0, ice_connectivity_ms=700.0,   # checking 1100 → connected 1800
           relayed=True, relay_protocol="udp", local_candidate_type="relay",
           remote_candidate_type="srflx", transport_protocol="udp",
           disruptions=1, disrupted_ms=2000.0, recovered_disruptions=1,      # 25 000 → 27 000
           last_event_at=T0 + 50_050),
    fabric(T0, "pc-ac", "alice", "carol", 1000, setup_at=T0 + 2200, setup_delay_ms=1200.0,
           terminated_at=T0 + 50_000, terminated_reason="hangup", duration_ms=49_000,
           relayed=False, local_candidate_type="host", remote_candidate_type="srflx",
           transport_protocol="udp", last_event_at=T0 + 50_050),
    fabric(T0, "pc-ba", "bob", "alice", 1100, setup_at=T0 + 1700, setup_delay_ms=600.0,
           terminated_at=T0 + 50_500, terminated_reason="hangup", duration_ms=49_400,
           last_event_at=T0 + 50_550),
    fabric(T0, "pc-ca", "carol", "alice", 1200, failed_at=T0 + 6200, setup_delay_ms=5000.0,
           outcome="failed", failure_reason="IceConnectionFailure", failure_category="ice_nat",
           failed_function="iceConnectionFailure", duration_ms=5000, last_event_at=T0 + 6250),
]
FABRICS_B = [
    fabric(TB, "pc-de", "dave", "erin", 500, setup_at=TB + 900, setup_delay_ms=400.0,
           terminated_at=TB + 30_000, terminated_reason="hangup", duration_ms=29_500,
           relayed=False, local_candidate_type="host", remote_candidate_type="host",
           transport_protocol="udp", last_event_at=TB + 30_050),
    fabric(TB, "pc-ed", "erin", "dave", 600, setup_at=TB + 1600, setup_delay_ms=1000.0,
           terminated_at=TB + 30_500, terminated_reason="hangup", duration_ms=29_900,
           relayed=True, relay_protocol="tcp", local_candidate_type="relay",
           remote_candidate_type="srflx", transport_protocol="udp", last_event_at=TB + 30_550),
]

def user(t0, name, joined, browser, version, os_, app, site, duration, **kw):
    row = {"segment": 0, "user_id": name, "uc_id": f"uc-{name}", "endpoint_type": "browser",
           "browser": browser, "browser_version": version, "os": os_, "os_version": None,
           "app_version": app, "site_id": site, "joined_at": t0 + joined + 50, "left_at": None,
           "duration_ms": duration, "measured_ms": 0, "mean_mos": None, "mean_video_score": None,
           "mean_loss_pct": None, "mean_jitter_ms": None, "mean_rtt_ms": None,
           "mean_bitrate_bps": None, "mean_audio_bitrate_bps": None,
           "mean_video_bitrate_bps": None, "worst_interval_start": None, "worst_interval_mos": None,
           "worst_interval_video_score": None, "share_excellent": None, "share_good": None,
           "share_fair": None, "share_poor": None, "share_bad": None, "feedback_overall": None}
    row.update(kw)
    return row

def shares(bands):
    return {f"share_{b}": bands.count(b) / len(bands) for b in ["excellent", "good", "fair", "poor", "bad"]}

PARTICIPANTS_A = [
    # alice: received 50 → her feedback received 52 050; nobody measured her media
    user(T0, "alice", 0, "Chrome", "120", "macOS", "2.1", "hq", 52_000, feedback_overall=2),
    # bob: 150 → his hang-up received 50 550; intervals lossy + clean (10 s each)
    user(T0, "bob", 100, "Firefox", "121", "Windows", "2.1", "hq", 50_400, measured_ms=20_000,
         mean_mos=BOB_MOS, mean_loss_pct=(A_LOSSY_LOSS + 0) / 2, mean_jitter_ms=10.0,
         mean_rtt_ms=20.0, mean_bitrate_bps=(1_000_000 + 50_000) / 2,
         mean_audio_bitrate_bps=(1_000_000 + 50_000) / 2,
         worst_interval_start=T0 + 10_000, worst_interval_mos=A_LOSSY,
         **shares([audio_band(A_LOSSY), audio_band(A_CLEAN)])),
    # carol: 250 → left 51 050; one clean interval measured by bob (32 000 bit/s, jitter 20 ms)
    user(T0, "carol", 200, "Safari", "17", "iOS", "2.0", "hq", 50_800, left_at=T0 + 51_050,
         measured_ms=10_000, mean_mos=CAROL_MOS, mean_loss_pct=0.0, mean_jitter_ms=20.0,
         mean_rtt_ms=None, mean_bitrate_bps=32_000.0, mean_audio_bitrate_bps=32_000.0,
         worst_interval_start=T0 + 10_000,
         worst_interval_mos=CAROL_MOS, feedback_overall=4, **shares([audio_band(A_CAROL)])),
]
PARTICIPANTS_B = [
    # dave: 50 → feedback received 31 050
    user(TB, "dave", 0, "Chrome", "121", "Linux", "2.2", "hq", 31_000, feedback_overall=5),
    # erin: 150 → hang-up received 30 550; one audio and one video interval over the same 10 s:
    # measured 10 s, not 20; loss, jitter, RTT and bands over both (docs/processor.md); the
    # bitrate is audio's mean plus video's, each over its own intervals
    user(TB, "erin", 100, "Chrome", "121", "Android", "2.2", "remote", 30_400, measured_ms=10_000,
         mean_mos=ERIN_MOS, mean_video_score=ERIN_VIDEO, mean_loss_pct=(5.0 + 0.0) / 2,
         mean_jitter_ms=(5.0 + 0.0) / 2, mean_rtt_ms=50.0,
         mean_bitrate_bps=240_000 + 1_500_000, mean_audio_bitrate_bps=240_000.0,
         mean_video_bitrate_bps=1_500_000.0, worst_interval_start=TB + 10_000,
         worst_interval_mos=ERIN_MOS, worst_interval_video_score=ERIN_VIDEO,
         **shares([audio_band(B_AUDIO), video_band(B_VIDEO)])),
]

def tq(t0, conn, remote, assoc, ssrc, track, kind, direction, start, **kw):
    row = {"segment": 0, "connection_id": conn, "uc_id": None, "remote_user_id": remote,
           "associated_user_id": assoc, "ssrc": ssrc, "track_id": track, "media_kind": kind,
           "direction": direction, "usage_label": None, "codec": None,
           "interval_start": t0 + start, "interval_end": t0 + start + 10_000, "after_gap": False,
           "packets_sent": None, "packets_received": None, "packets_lost": None, "loss_pct": None,
           "jitter_ms": None, "rtt_ms": None, "bitrate_bps": None, "frame_rate": None,
           "width": None, "height": None, "freeze_ms": None, "concealed_ms": None, "mos": None,
           "video_score": None, "band": None}
    row.update(kw)
    return row

def alice_in(start, **kw):
    return tq(T0, "pc-ab", "bob", "bob", 1001, "IT-A1", "audio", "inbound", start,
              uc_id="uc-alice", codec="audio/opus", jitter_ms=10.0, rtt_ms=20.0, **kw)

def alice_out(start):
    # packetsSent +1000 and bytesSent +80 000 every 10 s: 64 000 bit/s; RTT of the pair 20 ms
    return tq(T0, "pc-ab", "bob", "alice", 2001, "OT-A1", "audio", "outbound", start,
              uc_id="uc-alice", codec="audio/opus", packets_sent=1000, bitrate_bps=64_000.0,
              rtt_ms=20.0)

TIMELINE_A = [
    {"user_id": "alice", "points": [
        alice_in(10_000, packets_received=1000, packets_lost=50, loss_pct=A_LOSSY_LOSS,
                 bitrate_bps=1_000_000.0, mos=A_LOSSY, band=audio_band(A_LOSSY)),
        alice_out(10_000),
        alice_out(20_000),   # outbound counters keep rising: no reset on the sent side
        alice_in(30_000, after_gap=True, packets_received=500, packets_lost=0, loss_pct=0.0,
                 bitrate_bps=50_000.0, mos=A_CLEAN, band=audio_band(A_CLEAN)),
        alice_out(30_000),
    ]},
    {"user_id": "bob", "points": [
        tq(T0, "pc-ba", "alice", "carol", 5001, "IT-B1", "audio", "inbound", 10_000,
           uc_id="uc-bob", usage_label="mic", packets_received=500, packets_lost=0, loss_pct=0.0,
           jitter_ms=20.0, bitrate_bps=32_000.0, mos=A_CAROL, band=audio_band(A_CAROL)),
    ]},
]
TIMELINE_B = [
    {"user_id": "dave", "points": [
        tq(TB, "pc-de", "erin", "erin", 3001, "IT-D1", "audio", "inbound", 10_000, uc_id="uc-dave",
           packets_received=1900, packets_lost=100, loss_pct=5.0, jitter_ms=5.0, rtt_ms=50.0,
           bitrate_bps=240_000.0, mos=B_AUDIO, band=audio_band(B_AUDIO)),
        tq(TB, "pc-de", "erin", "erin", 3002, "IT-D2", "video", "inbound", 10_000, uc_id="uc-dave",
           packets_received=1500, packets_lost=0, loss_pct=0.0, jitter_ms=0.0, rtt_ms=50.0,
           bitrate_bps=1_500_000.0, frame_rate=30.0, width=1280, height=720,
           video_score=B_VIDEO, band=video_band(B_VIDEO)),
    ]},
]

def err(t0, t, kind, **kw):
    row = {"received_at": t0 + t + 50, "client_ts": t0 + t, "uc_id": "uc-carol", "user_id": "carol",
           "connection_id": "pc-ca", "remote_user_id": "alice", "kind": kind,
           "webrtc_function": None, "failure_reason": None, "failure_category": None,
           "error_name": None, "error_message": None, "error_stack": None,
           "constraint_name": None, "has_local_sdp": False, "has_remote_sdp": False}
    row.update(kw)
    return row

ERRORS_A = [
    err(T0, 6100, "report_error", webrtc_function="iceConnectionFailure",
        failure_category="ice_nat", error_message="ICE failed"),
    err(T0, 6200, "fabric_setup_failed", failure_reason="IceConnectionFailure",
        failure_category="ice_nat", error_name="IceConnectionFailure",
        error_message="ICE failed, add a TURN server"),
]

def fb(t0, t, name, overall, comment=None):
    return {"received_at": t0 + t + 50, "client_ts": t0 + t, "uc_id": f"uc-{name}", "user_id": name,
            "remote_user_id": None, "overall": overall, "audio": None, "video": None,
            "screen": None, "comment": comment}

detail_a = {"conference_id": "golden-a", "segments": [detail_row(CONF_A)],
            "participants": PARTICIPANTS_A, "fabrics": FABRICS_A, "quality_timeline": TIMELINE_A,
            "events": EVENTS_A, "errors": ERRORS_A,
            "feedback": [fb(T0, 52_000, "alice", 2), fb(T0, 53_000, "carol", 4, "fine")],
            "truncated": []}
detail_b = {"conference_id": "golden-b", "segments": [detail_row(CONF_B)],
            "participants": PARTICIPANTS_B, "fabrics": FABRICS_B, "quality_timeline": TIMELINE_B,
            "events": EVENTS_B, "errors": [], "feedback": [fb(TB, 31_000, "dave", 5)],
            "truncated": []}

def write(name, value):
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")

write("overview", overview)
for d, v in breakdowns.items():
    write(f"breakdown_{d}", v)
for s, v in lists.items():
    write(f"conferences_{s}", v)
write("conference_golden-a", detail_a)
write("conference_golden-b", detail_b)
print(json.dumps({"A_LOSSY": A_LOSSY, "A_CLEAN": A_CLEAN, "A_CAROL": A_CAROL, "B_AUDIO": B_AUDIO,
                  "B_VIDEO": B_VIDEO, "BOB_MOS": BOB_MOS, "A_MEAN_MOS": A_MEAN_MOS}, indent=1))

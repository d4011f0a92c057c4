// callscope dashboard: a small single-page app over the query API. Every value from the API is
// put into the page with textContent (never innerHTML), so data cannot inject markup.
"use strict";

(function () {
  const KEY = "callscope.key";
  const APP = "callscope.app";
  const $ = (id) => document.getElementById(id);
  const charts = [];

  // ---- helpers -------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "onclick") node.addEventListener("click", v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const fmt = {
    int: (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString()),
    num: (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d)),
    pct: (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %"),
    unit: (v, d, unit) => (v === null || v === undefined ? "–" : Number(v).toFixed(d) + unit),
    ms: (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString() + " ms"),
    kbps: (v) => (v === null || v === undefined ? "–" : Math.round(v / 1000).toLocaleString() + " kbit/s"),
    time: (v) => (v === null || v === undefined ? "–" : new Date(v).toLocaleString()),
    dur: (v) => {
      if (v === null || v === undefined) return "–";
      const s = Math.round(v / 1000);
      return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
    },
  };

  async function api(path) {
    const key = sessionStorage.getItem(KEY);
    const app = sessionStorage.getItem(APP);
    let url = path;
    if (app) url += (url.includes("?") ? "&" : "?") + "app_id=" + encodeURIComponent(app);
    const res = await fetch(url, { headers: { Authorization: "Bearer " + key } });
    if (res.status === 401) {
      signOut();
      throw new Error("signed out: the key was refused");
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || res.statusText);
    return body;
  }

  function status(text) {
    $("status").textContent = text || "";
  }

  function clearCharts() {
    while (charts.length) charts.pop().destroy();
  }

  function card(title, ...children) {
    return el("div", { class: "card" }, el("h2", {}, title), ...children);
  }

  function table(columns, rows, onClick) {
    if (!rows.length) return el("p", { class: "empty" }, "No data in this range.");
    const head = el("tr", {}, ...columns.map((c) => el("th", { class: c.num ? "num" : "" }, c.label)));
    const body = rows.map((r) => {
      const tr = el("tr", onClick ? { class: "link", onclick: () => onClick(r) } : {});
      for (const c of columns) {
        const v = c.render ? c.render(r) : r[c.key];
        tr.append(el("td", { class: c.num ? "num" : "" }, v instanceof Node ? v : v ?? "–"));
      }
      return tr;
    });
    return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
  }

  function badge(text) {
    return text ? el("span", { class: "badge " + text }, text) : "–";
  }

  // A time series chart; xs in ms, series [{label, values, scale?}].
  function lineChart(container, xs, series, opts = {}) {
    if (xs.length === 1) {
      // One point has no span for uPlot to scale to: pad a minute each side with gaps.
      xs = [xs[0] - 60000, xs[0], xs[0] + 60000];
      series = series.map((s) => ({ ...s, values: [null, s.values[0], null] }));
    }
    const width = Math.max(320, container.clientWidth - 10);
    const colors = ["#2563eb", "#d92d20", "#079455", "#f79009", "#7a5af8", "#0e9384"];
    const chart = new uPlot(
      {
        width,
        height: opts.height || 220,
        // opts.yRange fixes the y scale (scores have a known scale; auto-ranging one point stretches it).
        scales: { x: { time: true }, ...(opts.yRange ? { y: { auto: false, range: opts.yRange } } : {}) },
        axes: [
          {},
          { label: opts.yLabel || "", size: 60 },
          ...(opts.y2Label ? [{ scale: "y2", side: 1, label: opts.y2Label, grid: { show: false } }] : []),
        ],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            scale: s.scale || "y",
            stroke: colors[i % colors.length],
            width: 2,
            spanGaps: false,
            // Buckets without data are gaps; points keep isolated buckets visible.
            points: { show: true, size: 5 },
          })),
        ],
      },
      [xs.map((x) => x / 1000), ...series.map((s) => s.values)],
      container
    );
    charts.push(chart);
    return chart;
  }

  function barChart(container, labels, values, label) {
    const width = Math.max(320, container.clientWidth - 10);
    const chart = new uPlot(
      {
        width,
        height: 200,
        scales: {
          x: { time: false, range: [-0.5, labels.length - 0.5] },
          // Bars start at zero, or their heights lie.
          y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] },
        },
        axes: [
          { values: (u, splits) => splits.map((i) => labels[Math.round(i)] ?? ""), splits: () => labels.map((_, i) => i) },
          { size: 50 },
        ],
        series: [
          {},
          {
            label,
            fill: "rgba(37, 99, 235, 0.5)",
            stroke: "#2563eb",
            paths: uPlot.paths.bars({ size: [0.6, 80] }),
            points: { show: false },
          },
        ],
        legend: { show: false },
      },
      [labels.map((_, i) => i), values],
      container
    );
    charts.push(chart);
  }

  // ---- pages ---------------------------------------------------------------------------------

  function range() {
    return "from=-" + $("range").value;
  }

  async function overviewPage(content) {
    const data = await api("/api/v1/overview?" + range());
    const t = data.totals;
    content.append(
      el(
        "div",
        { class: "tiles" },
        ...[
          ["Conferences", fmt.int(t.conferences)],
          ["Participants", fmt.int(t.participants)],
          ["Set up", fmt.pct(t.setup_success_rate)],
          ["Partially failed", fmt.pct(t.setup_partial_rate)],
          ["Failed", fmt.pct(t.setup_failure_rate)],
          ["Setup p50 / p95", fmt.ms(t.setup_delay_p50_ms) + " / " + fmt.ms(t.setup_delay_p95_ms)],
          ["Mean MOS", fmt.num(t.mean_mos)],
          ["Video score", fmt.num(t.mean_video_score)],
          ["Feedback", fmt.num(t.feedback_mean, 1) + " (" + fmt.int(t.feedback_count) + ")"],
        ].map(([label, value]) => el("div", { class: "tile" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value)))
      )
    );
    const grid = el("div", { class: "grid" });
    content.append(grid);
    const xs = data.series.map((p) => p.t);
    const pick = (k) => data.series.map((p) => p[k]);
    const charted = [
      ["Conferences and participants", [{ label: "conferences", values: pick("conferences") }, { label: "participants", values: pick("participants") }], {}],
      ["Setup outcome (share of conferences)", [
        { label: "success", values: pick("setup_success_rate") },
        { label: "partial", values: pick("setup_partial_rate") },
        { label: "failed", values: pick("setup_failure_rate") },
      ], {}],
      ["Setup delay (ms)", [{ label: "p50", values: pick("setup_delay_p50_ms") }, { label: "p95", values: pick("setup_delay_p95_ms") }], {}],
      ["Quality", [{ label: "mean MOS", values: pick("mean_mos") }, { label: "video score", values: pick("mean_video_score") }], { yLabel: "score (1–5)", yRange: [1, 5] }],
      ["Feedback (1–5)", [{ label: "mean rating", values: pick("feedback_mean") }], {}],
    ];
    for (const [title, series, opts] of charted) {
      const holder = el("div");
      grid.append(card(title, holder));
      lineChart(holder, xs, series, opts);
    }
    const dims = [
      ["browser", "Browsers (users)"],
      ["os", "Operating systems (users)"],
      ["app_version", "App versions (users)"],
      ["endpoint_type", "Endpoint types (users)"],
      ["relay_type", "Relay type (set-up connections)"],
      ["failure_reason", "Failure reasons (connections)"],
    ];
    const breakdowns = await Promise.all(dims.map(([d]) => api("/api/v1/breakdown/" + d + "?" + range())));
    breakdowns.forEach((b, i) => {
      const holder = el("div");
      grid.append(card(dims[i][1], holder));
      const rows = b.rows.slice(0, 12);
      if (!rows.length) holder.append(el("p", { class: "empty" }, "No data in this range."));
      else barChart(holder, rows.map((r) => r.value), rows.map((r) => r.count), b.unit);
    });
  }

  async function conferencesPage(content) {
    const sort = el("select", {}, ...[["recent", "most recent"], ["worst_quality", "worst quality"], ["longest_setup", "longest setup"], ["failed", "failed"]].map(([v, l]) => el("option", { value: v }, l)));
    sort.value = sessionStorage.getItem("callscope.sort") || "recent";
    const holder = el("div");
    const more = el("button", { class: "secondary more", type: "button" }, "More");
    content.append(card("Conferences", el("label", {}, "Sort ", sort), holder, more));
    let cursor = null;
    let rows = [];
    const columns = [
      { label: "Conference", key: "conference_id" },
      { label: "Started", render: (r) => fmt.time(r.start_time) },
      { label: "Duration", render: (r) => fmt.dur(r.duration_ms), num: true },
      { label: "Users", key: "users", num: true },
      { label: "Setup", render: (r) => badge(r.setup_status) },
      { label: "Setup median", render: (r) => fmt.ms(r.setup_delay_median_ms), num: true },
      { label: "Failed conns", key: "fabrics_failed", num: true },
      { label: "MOS", render: (r) => fmt.num(r.mean_mos), num: true },
      { label: "Worst user MOS", render: (r) => fmt.num(r.worst_user_mos), num: true },
      { label: "Video", render: (r) => fmt.num(r.mean_video_score), num: true },
    ];
    async function load(reset) {
      if (reset) { cursor = null; rows = []; }
      let path = "/api/v1/conferences?" + range() + "&sort=" + sort.value + "&limit=50";
      if (cursor) path += "&cursor=" + encodeURIComponent(cursor);
      const page = await api(path);
      rows = rows.concat(page.conferences);
      cursor = page.next_cursor;
      holder.replaceChildren(table(columns, rows, (r) => (location.hash = "#/conference/" + encodeURIComponent(r.conference_id))));
      more.hidden = !cursor;
    }
    sort.addEventListener("change", () => { sessionStorage.setItem("callscope.sort", sort.value); load(true).catch(fail); });
    more.addEventListener("click", () => load(false).catch(fail));
    await load(true);
  }

  async function livePage(content) {
    const data = await api("/api/v1/live");
    content.append(
      card(
        "Live conferences (events in the last " + data.window_secs + " s, not ended yet)",
        table(
          [
            { label: "Conference", key: "conference_id" },
            { label: "Last event", render: (r) => fmt.time(r.last_event_at) },
            { label: "Users", key: "users", num: true },
            { label: "Connections", key: "connections", num: true },
            { label: "Events", key: "events", num: true },
          ],
          data.conferences,
          (r) => (location.hash = "#/conference/" + encodeURIComponent(r.conference_id))
        )
      )
    );
  }

  // The integration checklist: one line per SDK/REST call, green (seen), amber (refused in the
  // range: why, and how to fix it) or grey (never seen).
  async function integrationPage(content) {
    const data = await api("/api/v1/integration?" + range());
    content.append(
      el(
        "div",
        { class: "tiles" },
        el("div", { class: "tile" }, el("div", { class: "label" }, "Working"), el("div", { class: "value", id: "count-green" }, data.green)),
        el("div", { class: "tile" }, el("div", { class: "label" }, "With refusals"), el("div", { class: "value", id: "count-amber" }, data.amber)),
        el("div", { class: "tile" }, el("div", { class: "label" }, "Not seen yet"), el("div", { class: "value", id: "count-grey" }, data.grey))
      )
    );
    const words = { green: "working", amber: "refusals", grey: "not seen" };
    const rows = data.items.map((i) => {
      const detail = el("td", { class: "detail" });
      if (i.status === "amber") {
        const last = i.refusals[0];
        if (last) {
          detail.append(
            el("div", { class: "error" }, last.error || "refused"),
            last.field ? el("div", {}, "field: ", el("code", {}, last.field)) : null,
            el("small", {}, (last.status ? "HTTP " + last.status + ", " : "") + fmt.time(last.at))
          );
        }
        detail.append(el("div", { class: "fix" }, i.fix));
      }
      return el(
        "tr",
        { class: "item " + i.status + (i.parent ? " child" : ""), "data-item": i.item, "data-status": i.status },
        el("td", {}, el("span", { class: "light " + i.status, title: words[i.status] }), " ", words[i.status]),
        el("td", { class: "label" }, i.label),
        el("td", { class: "num" }, fmt.int(i.accepted)),
        el("td", { class: "num" }, fmt.int(i.refused)),
        el("td", {}, fmt.time(i.last_seen)),
        detail
      );
    });
    const head = el(
      "tr",
      {},
      ...["Status", "Call", "Accepted", "Refused", "Last seen", "Last refusal and fix"].map((h) => el("th", {}, h))
    );
    content.append(
      card(
        "Integration progress",
        el("p", { class: "hint" }, "Green: seen and accepted. Amber: refused at least once in this range; the last error says which field. Grey: not seen yet."),
        el("table", { id: "integration" }, el("thead", {}, head), el("tbody", {}, ...rows))
      )
    );
  }

  async function conferencePage(content, id) {
    const c = await api("/api/v1/conferences/" + encodeURIComponent(id));
    content.append(el("h1", {}, "Conference " + c.conference_id));
    if (c.truncated.length) content.append(el("p", { class: "error" }, "Cut at the row limit: " + c.truncated.join(", ")));
    content.append(
      card("Summary", table(
        [
          { label: "Segment", key: "segment", num: true },
          { label: "Start", render: (r) => fmt.time(r.start_time) },
          { label: "Duration", render: (r) => fmt.dur(r.duration_ms), num: true },
          { label: "Users", key: "users", num: true },
          { label: "Connections", key: "fabrics", num: true },
          { label: "Setup", render: (r) => badge(r.setup_status) },
          { label: "Setup median", render: (r) => fmt.ms(r.setup_delay_median_ms), num: true },
          { label: "MOS", render: (r) => fmt.num(r.mean_mos), num: true },
          { label: "Video", render: (r) => fmt.num(r.mean_video_score), num: true },
          { label: "Feedback", render: (r) => fmt.num(r.feedback_mean, 1), num: true },
          { label: "End", key: "end_reason" },
        ],
        c.segments
      ))
    );
    // Quality per participant: inbound audio MOS and video score, each interval.
    const grid = el("div", { class: "grid" });
    content.append(grid);
    for (const s of c.quality_timeline) {
      const audio = s.points.filter((p) => p.media_kind === "audio" && p.direction === "inbound");
      const video = s.points.filter((p) => p.media_kind === "video" && p.direction === "inbound");
      const xs = [...new Set(s.points.map((p) => p.interval_start))].sort((a, b) => a - b);
      const mean = (points, t, k) => {
        const vs = points.filter((p) => p.interval_start === t && p[k] !== null).map((p) => p[k]);
        return vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
      };
      const holder = el("div");
      grid.append(card("Quality received by " + s.user_id, holder));
      lineChart(holder, xs, [
        { label: "audio MOS", values: xs.map((t) => mean(audio, t, "mos")) },
        { label: "video score", values: xs.map((t) => mean(video, t, "video_score")) },
      ], { yLabel: "score (1–5)", yRange: [1, 5], height: 180 });
    }
    content.append(
      card("Participants", table(
        [
          { label: "User", key: "user_id" },
          { label: "Browser", render: (r) => [r.browser, r.browser_version].filter(Boolean).join(" ") || "–" },
          { label: "OS", key: "os" },
          { label: "App", key: "app_version" },
          { label: "Joined", render: (r) => fmt.time(r.joined_at) },
          { label: "MOS", render: (r) => fmt.num(r.mean_mos), num: true },
          { label: "Video", render: (r) => fmt.num(r.mean_video_score), num: true },
          { label: "Loss", render: (r) => fmt.unit(r.mean_loss_pct, 1, " %"), num: true },
          { label: "RTT", render: (r) => fmt.ms(r.mean_rtt_ms), num: true },
          { label: "Audio bitrate", render: (r) => fmt.kbps(r.mean_audio_bitrate_bps), num: true },
          { label: "Video bitrate", render: (r) => fmt.kbps(r.mean_video_bitrate_bps), num: true },
          { label: "Measured", render: (r) => fmt.dur(r.measured_ms), num: true },
        ],
        c.participants
      )),
      card("Connections", table(
        [
          { label: "Connection", key: "connection_id" },
          { label: "User", key: "user_id" },
          { label: "Remote", key: "remote_user_id" },
          { label: "Outcome", render: (r) => badge(r.outcome) },
          { label: "Setup", render: (r) => fmt.ms(r.setup_delay_ms), num: true },
          { label: "Failure", key: "failure_reason" },
          { label: "Relayed", render: (r) => (r.relayed === null ? "–" : r.relayed ? "yes" : "no") },
          { label: "Terminated", key: "terminated_reason" },
        ],
        c.fabrics
      )),
      card("Errors", table(
        [
          { label: "Time", render: (r) => fmt.time(r.received_at) },
          { label: "User", key: "user_id" },
          { label: "Kind", key: "kind" },
          { label: "Reason", key: "failure_reason" },
          { label: "Message", key: "error_message" },
        ],
        c.errors
      )),
      card("Feedback", table(
        [
          { label: "Time", render: (r) => fmt.time(r.received_at) },
          { label: "User", key: "user_id" },
          { label: "Overall", key: "overall", num: true },
          { label: "Comment", key: "comment" },
        ],
        c.feedback
      )),
      card("Events", table(
        [
          { label: "Received", render: (r) => fmt.time(r.received_at) },
          { label: "User", key: "user_id" },
          { label: "Kind", key: "kind" },
          { label: "Type", key: "event_type" },
          { label: "Connection", key: "connection_id" },
        ],
        c.events
      ))
    );
  }

  // ---- shell ---------------------------------------------------------------------------------

  function fail(e) {
    status("Error: " + e.message);
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(APP);
    show();
  }

  async function route() {
    clearCharts();
    const content = $("content");
    content.replaceChildren();
    const hash = location.hash || "#/overview";
    const [, page, arg] = hash.split("/");
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
    status("Loading…");
    try {
      if (page === "conferences") await conferencesPage(content);
      else if (page === "live") await livePage(content);
      else if (page === "integration") await integrationPage(content);
      else if (page === "conference" && arg) await conferencePage(content, decodeURIComponent(arg));
      else await overviewPage(content);
      status("Updated " + new Date().toLocaleTimeString());
    } catch (e) {
      fail(e);
    }
  }

  async function show() {
    const signedIn = !!sessionStorage.getItem(KEY);
    $("signin").hidden = signedIn;
    $("page").hidden = !signedIn;
    $("nav").hidden = !signedIn;
    $("signout").hidden = !signedIn;
    $("who").textContent = "";
    if (!signedIn) return;
    try {
      const me = await api("/api/v1/me");
      $("who").textContent = "app " + me.app_id + (me.admin ? " (admin)" : "");
    } catch (e) {
      fail(e);
      return;
    }
    route();
  }

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    const app = $("admin-app").value.trim();
    if (app) sessionStorage.setItem(APP, app);
    else sessionStorage.removeItem(APP);
    try {
      await api("/api/v1/me");
      $("signin-error").textContent = "";
      $("key").value = "";
      show();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      $("signin-error").textContent = "Sign-in failed: " + e.message;
    }
  });
  $("signout").addEventListener("click", signOut);
  $("range").addEventListener("change", route);
  window.addEventListener("hashchange", route);
  show();
})();

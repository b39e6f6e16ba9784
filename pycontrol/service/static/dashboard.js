// The ops dashboard: reads /api/* once, then follows /api/stream (server-sent events):
// "status" events carry the session's status (the same reply `ctl status` prints),
// "telemetry" events its telemetry messages. No libraries: charts are drawn on canvas.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x)) ? "-" : Number(x).toFixed(d);
const series = [];
const MAX_LOG = 50;
let latency = { buckets_us: [], counts: [] };

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: "same-origin", ...opts });
  if (r.status === 401) { location.href = "/login"; throw new Error("login required"); }
  return r;
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function rows(tbody, list, fn) {
  tbody.textContent = "";
  for (const x of list) {
    const tr = document.createElement("tr");
    fn(tr, x);
    tbody.appendChild(tr);
  }
}

function kv(table, obj) {
  rows(table.querySelector("tbody"), Object.entries(obj), (tr, [k, v]) => {
    cell(tr, k);
    cell(tr, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
  });
}

function logLine(ul, text) {
  const li = document.createElement("li");
  li.textContent = text;
  ul.insertBefore(li, ul.firstChild);
  while (ul.children.length > MAX_LOG) ul.removeChild(ul.lastChild);
}

function renderStatus(st) {
  const e = st.engine || {};
  $("session-name").textContent = st.name || "";
  $("mode").textContent = st.mode || "";
  const state = $("state");
  state.textContent = e.state || "?";
  state.className = "state " + (e.state || "");
  $("halt-reason").textContent = e.halt_reason ? "(" + e.halt_reason + ")" : "";
  const pos = e.positions || [];
  const sum = (k) => pos.reduce((a, p) => a + (p[k] || 0), 0);
  $("equity").textContent = fmt(e.equity);
  $("realized").textContent = fmt(sum("realized"));
  $("unrealized").textContent = fmt(sum("unrealized"));
  $("fees").textContent = fmt(sum("fees"));
  $("fills").textContent = String(e.fills ?? "-");
  $("intents").textContent = String(e.intents ?? "-");
  $("denials").textContent = String(e.denials ?? "-");
  $("working").textContent = String(e.working ?? "-");
  $("market-events").textContent = String(st.market_events ?? "-");
  rows($("positions").querySelector("tbody"), pos, (tr, p) => {
    tr.dataset.symbol = p.symbol;
    cell(tr, p.symbol); cell(tr, String(p.qty)).className = "qty";
    cell(tr, fmt(p.avg_price)); cell(tr, fmt(p.mark));
    cell(tr, fmt(p.realized)); cell(tr, fmt(p.unrealized)); cell(tr, fmt(p.fees));
  });
  const lim = e.limits || {};
  $("max-order-qty").textContent = String(lim.max_order_qty ?? "-");
  $("max-position").textContent = String(lim.max_position ?? "-");
  const more = { ...lim }; delete more.max_order_qty; delete more.max_position;
  kv($("more-limits"), more);
  kv($("denials-by-reason"), e.denials_by_reason || {});
  const m = e.model;
  kv($("model"), m ? { version: m.version, passed: m.passed, ...(m.gated_by_reason || {}),
    swap_alerts: (m.swap_alerts || []).length, source: e.model_source }
    : { source: e.model_source || "-" });
  const c = st.control || {};
  kv($("control"), { auth_failures: c.auth_failures, unknown_keys: c.unknown_keys,
    refused: c.refused, overrides: c.overrides, operators: (c.operators || []).join(", ") });
  series.push({ t: Date.now() / 1000, equity: e.equity, realized: sum("realized"),
    unrealized: sum("unrealized") });
  if (series.length > 3600) series.shift();
  drawPnl();
}

function drawLine(ctx, pts, w, h, lo, hi, color) {
  ctx.strokeStyle = color; ctx.beginPath();
  pts.forEach((v, i) => {
    const x = (i / Math.max(1, pts.length - 1)) * (w - 10) + 5;
    const y = h - 5 - ((v - lo) / (hi - lo || 1)) * (h - 10);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function drawPnl() {
  const cv = $("pnl-chart"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  if (series.length < 2) return;
  const pnl = series.map((p) => (p.realized || 0) + (p.unrealized || 0));
  const eq = series.map((p) => p.equity || 0);
  const lo = Math.min(...pnl, 0), hi = Math.max(...pnl, 0);
  drawLine(ctx, pnl, cv.width, cv.height, lo, hi, "#a3be8c");
  drawLine(ctx, eq, cv.width, cv.height, Math.min(...eq), Math.max(...eq), "#81a1c1");
  ctx.fillStyle = "#8fa1b3";
  ctx.fillText("P&L " + fmt(pnl[pnl.length - 1]) + "  equity " + fmt(eq[eq.length - 1]), 8, 14);
}

function drawLatency() {
  const cv = $("latency-chart"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  const counts = latency.counts || [], n = counts.length, max = Math.max(1, ...counts);
  const bw = cv.width / Math.max(1, n);
  counts.forEach((c, i) => {
    const h = (c / max) * (cv.height - 20);
    ctx.fillStyle = "#5e81ac";
    ctx.fillRect(i * bw + 2, cv.height - 14 - h, bw - 4, h);
    ctx.fillStyle = "#8fa1b3";
    const label = i < latency.buckets_us.length ? "<=" + latency.buckets_us[i] : "more";
    ctx.fillText(label, i * bw + 2, cv.height - 2);
  });
  $("latency-q").textContent = latency.n ? `n ${latency.n}, p50 ${fmt(latency.p50_us, 1)} us, p99 ${fmt(latency.p99_us, 1)} us` : "no intents yet";
}

function onTelemetry(msg) {
  const d = msg.data || {};
  switch (msg.topic) {
    case "signal":
      logLine($("signals"), `#${d.intent_id} ${d.side} ${d.qty} ${d.symbol} ${d.order_type} ${fmt(d.price)}`);
      break;
    case "denial":
      logLine($("recent-denials"), `#${(d.intent || {}).intent_id} ${d.reason} ${d.detail || ""}`);
      logLine($("signals"), `denied #${(d.intent || {}).intent_id}: ${d.reason}`);
      break;
    case "fill":
      logLine($("recent-fills"), `${d.side} ${d.qty} ${d.symbol} @ ${fmt(d.price)} (${d.exec_id})`);
      refreshOrders();
      break;
    case "order":
      refreshOrders();
      break;
    case "latency":
      refreshLatency();
      break;
    default:
      break;
  }
}

async function refreshOrders() {
  const r = await api("/api/orders");
  if (!r.ok) return;
  const o = await r.json();
  rows($("orders").querySelector("tbody"), o.orders, (tr, x) => {
    cell(tr, String(x.client_order_id)); cell(tr, x.side); cell(tr, String(x.qty));
    cell(tr, x.order_type); cell(tr, fmt(x.price)); cell(tr, String(x.filled));
  });
}

async function refreshLatency() {
  const r = await api("/api/latency");
  if (r.ok) { latency = await r.json(); drawLatency(); }
}

async function refreshFeed() {
  const r = await api("/api/feed");
  if (!r.ok) return;
  const f = await r.json();
  const t = f.session_telemetry || {};
  kv($("feed"), { connected: f.connected, heartbeat_age_s: fmt(f.heartbeat_age_s, 1),
    market_events: f.market_events, telemetry_received: f.telemetry_received,
    telemetry_gaps: f.telemetry_gaps, session_sent: t.sent, session_dropped: t.dropped,
    connectivity_events: (f.connectivity || []).length });
  $("link").textContent = f.connected ? "live" : ("no session: " + (f.error || "waiting"));
}

function confirmAction(what, run) {
  $("confirm-text").textContent = `${what} the session? This is sent to the engine at once.`;
  $("confirm-reason").hidden = what !== "Halt";
  $("confirm").hidden = false;
  $("confirm-yes").onclick = async () => { $("confirm").hidden = true; await run(); };
  $("confirm-no").onclick = () => { $("confirm").hidden = true; };
}

async function post(path, body) {
  const r = await api(path, { method: "POST", headers: { "Content-Type": "application/json",
    "X-Pycontrol-Action": "1" }, body: JSON.stringify(body || {}) });
  const reply = await r.json();
  $("action-result").textContent = path + ": " + (reply.ok ? JSON.stringify(reply.result) : JSON.stringify(reply.error || reply.detail));
  const st = await api("/api/status");
  if (st.ok) renderStatus(await st.json());
}

$("halt-btn").onclick = () => confirmAction("Halt", () => post("/api/halt", { reason: $("confirm-reason").value }));
$("flatten-btn").onclick = () => confirmAction("Flatten", () => post("/api/flatten"));

async function start() {
  const r = await api("/api/status");
  if (r.ok) renderStatus(await r.json());
  refreshOrders(); refreshLatency(); refreshFeed();
  setInterval(refreshFeed, 2000);
  const es = new EventSource("/api/stream");
  es.addEventListener("status", (ev) => renderStatus(JSON.parse(ev.data).data));
  es.addEventListener("telemetry", (ev) => onTelemetry(JSON.parse(ev.data).data));
  es.addEventListener("error", () => { $("link").textContent = "stream reconnecting"; });
}

start().catch((e) => { $("link").textContent = String(e); });

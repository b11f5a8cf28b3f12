// Dashboard. Live (the default): loads the last 24 h of a zone from the API, then applies every
// pushed record from the WebSocket, so it updates as soon as data arrives without a reload.
// History (day / week / month / year / custom, in the zone's local calendar): one request to
// /zones/{zone}/series, which picks minutes, hours or days for the span. Every empty series says
// why (not published for the zone, nothing landed, or only part of the range present). A token
// (when the server requires one) is taken from the URL (#token=...) once and kept in localStorage.
"use strict";

const API = "/api/v1";
const WINDOW_MS = 24 * 3600 * 1000;
const MODE_COLOURS = {
  nuclear: "#b07cc6", wind_onshore: "#4fa3d9", wind_offshore: "#1f6fa8", solar: "#f2c230",
  hydro: "#2a9d8f", bioenergy: "#6a994e", gas: "#e07a5f", coal: "#4a4a4a", oil: "#8d5524",
  thermal_other: "#c9a27e", unknown: "#a0a0a0",
};
const LINE_COLOURS = ["#1f6fa8", "#e07a5f", "#2a9d8f", "#b07cc6", "#f2c230", "#6a994e", "#8d5524", "#4a4a4a", "#c9a27e"];

const state = {
  zone: null, timeZone: "UTC", series: new Map(), datasets: new Set(),
  mode: "live", from: null, to: null, // history: local dates (YYYY-MM-DD), inclusive
  grainOverride: null, // ?grain= (benchmarks, debugging): force minute/hourly/daily; the page never sets it
  rangeMin: null, rangeMax: null, grain: null, coverage: {}, published: {}, co2Methods: null,
  loadMs: null, fetchMs: null, renderMs: null, loads: 0, loadToken: 0,
  renders: 0, liveMessages: 0, lastInterval: null, charts: {}, socket: null, reloadTimer: null, renderPending: false,
  serverNow: null, // ms: the platform clock's "now" from the last API answer (the browser's clock may differ or be pinned)
};
window.dashboardState = state; // read by the browser test

const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (hashToken) { localStorage.setItem("energyToken", hashToken); history.replaceState(null, "", location.pathname + location.search); }
const token = () => localStorage.getItem("energyToken");

async function api(path) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const response = await fetch(API + path, { headers });
  if (response.status === 401) {
    const given = prompt("This server needs an API token:");
    if (given) { localStorage.setItem("energyToken", given); return api(path); }
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function seriesOf(quantity) {
  if (!state.series.has(quantity)) state.series.set(quantity, new Map());
  return state.series.get(quantity);
}

function put(quantity, isoTime, value) {
  const ms = Date.parse(isoTime);
  seriesOf(quantity).set(ms, value);
  if (!state.lastInterval || ms > Date.parse(state.lastInterval)) state.lastInterval = isoTime;
}

// The window ends at the server's now, or at the newest point pushed since, whichever is later:
// never at the browser's clock, which may be wrong and is not what the platform calls now.
function windowEnd() {
  const newest = state.lastInterval ? Date.parse(state.lastInterval) : 0;
  return Math.max(state.serverNow || 0, newest);
}

function prune() {
  const cutoff = windowEnd() - WINDOW_MS;
  for (const points of state.series.values()) for (const ms of points.keys()) if (ms < cutoff) points.delete(ms);
}

function syncUrl() {
  const query = new URLSearchParams({ zone: state.zone });
  if (state.mode !== "live") {
    query.set("range", state.mode);
    if (state.mode === "custom") { query.set("from", state.from); query.set("to", state.to); } else query.set("date", state.from);
    if (state.grainOverride) query.set("grain", state.grainOverride);
  }
  history.replaceState(null, "", `?${query}`);
}

async function loadZone(zone) {
  state.zone = zone;
  const zones = await api("/zones");
  state.timeZone = (zones.find((z) => z.zone === zone) || {}).time_zone || "UTC";
  await load();
}

// (Re)load whatever the zone and range pickers say: the live window, or one history range.
async function load() {
  state.series = new Map(); state.datasets = new Set(); state.lastInterval = null;
  state.coverage = {}; state.grain = null;
  syncUrl();
  document.getElementById("history-controls").hidden = state.mode === "live";
  document.getElementById("title").textContent = state.mode === "live" ? "Live power system" : "Power system history";
  if (state.mode === "live") {
    state.rangeMin = state.rangeMax = null;
    await reload();
    connect();
  } else {
    disconnect();
    await loadRange();
  }
}

async function reload() {
  // Merge, never replace: values pushed over the WebSocket may not have landed in the warehouse yet.
  const data = await api(`/zones/${encodeURIComponent(state.zone)}/dashboard?hours=24`);
  if (data.zone !== state.zone || state.mode !== "live") return;
  if (data.now_utc) state.serverNow = Date.parse(data.now_utc);
  state.published = data.published || {};
  state.co2Methods = data.co2_methods || null;
  for (const [quantity, points] of Object.entries(data.series)) for (const [t, v] of points) put(quantity, t, v);
  data.datasets.forEach((d) => state.datasets.add(d));
  scheduleRender();
}

// One history range in one request; the server picks the grain (minutes / hours / days).
async function loadRange() {
  const token = ++state.loadToken;
  const started = performance.now();
  const query = new URLSearchParams({ from: state.from, to: state.to });
  if (state.grainOverride) query.set("grain", state.grainOverride);
  const data = await api(`/zones/${encodeURIComponent(state.zone)}/series?${query}`);
  if (token !== state.loadToken) return; // a newer range was picked meanwhile
  const fetched = performance.now();
  state.serverNow = Date.parse(data.now_utc);
  state.published = data.published; state.co2Methods = data.co2_methods;
  state.coverage = data.coverage; state.grain = data.grain;
  state.rangeMin = Date.parse(data.from_utc); state.rangeMax = Date.parse(data.to_utc);
  for (const [quantity, points] of Object.entries(data.series)) {
    const values = seriesOf(quantity);
    for (const [ms, v] of points) values.set(ms, v);
  }
  render();
  state.fetchMs = fetched - started;
  state.renderMs = performance.now() - fetched;
  state.loadMs = performance.now() - started;
  state.loads += 1;
  document.body.dataset.loads = String(state.loads);
}

function disconnect() {
  clearTimeout(state.reloadTimer);
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
  const pill = document.getElementById("connection");
  pill.textContent = "history"; pill.className = "pill";
}

function connect() {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ zone: state.zone });
  if (token()) query.set("token", token());
  const socket = new WebSocket(`${scheme}://${location.host}${API}/live?${query}`);
  state.socket = socket;
  const pill = document.getElementById("connection");
  socket.onopen = () => { pill.textContent = "live"; pill.className = "pill live"; };
  socket.onclose = () => {
    pill.textContent = "reconnecting…"; pill.className = "pill down";
    setTimeout(() => { if (state.socket === socket) connect(); }, 2000);
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const messages = message.type === "snapshot" ? message.messages : [message];
    if (state.mode !== "live") return;
    for (const m of messages) {
      if (m.zone !== state.zone) continue;
      state.datasets.add(m.dataset);
      for (const [quantity, v] of Object.entries(m.values)) put(quantity, m.interval_start_utc, v.value);
      if (message.type !== "snapshot") state.liveMessages += 1;
    }
    scheduleRender();
    // Computed CO2 intensity comes from the warehouse: fetch it again once this record has landed.
    clearTimeout(state.reloadTimer);
    state.reloadTimer = setTimeout(() => reload().catch(console.error), 5000);
  };
}

function scheduleRender() {
  if (state.renderPending) return;
  state.renderPending = true;
  requestAnimationFrame(() => { state.renderPending = false; render(); });
}

function formatTime(ms) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: state.timeZone, hour: "2-digit", minute: "2-digit" }).format(ms);
}

function formatMoment(ms) {
  const options = state.grain === "daily" ? { weekday: "short", day: "numeric", month: "short", year: "numeric" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  return new Intl.DateTimeFormat("en-GB", { timeZone: state.timeZone, ...options }).format(ms);
}

// Even ticks in the zone's local time (ticks.js), replacing Chart.js's evenly spaced numbers.
function placeTicks(axis) {
  const found = evenTicks(axis.min, axis.max, state.timeZone, axis.width ? Math.floor(axis.width / 75) : undefined);
  axis.tickUnit = found.unit;
  axis.ticks = found.values.map((value) => ({ value }));
}

function chart(id, stacked) {
  if (state.charts[id]) return state.charts[id];
  const context = document.getElementById(id);
  state.charts[id] = new Chart(context, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, normalized: true, spanGaps: true,
      parsing: false, // points are built as {x, y} (sorted x): Chart.js skips its parsing pass
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
      scales: {
        x: { type: "linear", afterBuildTicks: placeTicks,
             ticks: { autoSkip: false, maxRotation: 0, callback: function (v) { return tickLabel(v, this.tickUnit || "hour", state.timeZone); } } },
        y: { stacked, beginAtZero: stacked },
      },
      plugins: { legend: { position: "right", labels: { boxWidth: 12 } },
                 tooltip: { callbacks: { title: (items) => items.length ? formatMoment(items[0].parsed.x) : "" } } },
    },
  });
  return state.charts[id];
}

function points(quantity, times) {
  const values = state.series.get(quantity) || new Map();
  return (times || [...values.keys()].sort((a, b) => a - b)).map((x) => ({ x, y: values.has(x) ? values.get(x) : null }));
}

function setLines(id, quantities, label) {
  const c = chart(id, false);
  c.data.datasets = quantities.map((q, i) => ({
    label: label(q), data: points(q), borderColor: LINE_COLOURS[i % LINE_COLOURS.length], fill: false,
  }));
  c.update("none");
}

// Why a chart is empty or thin: not published for this zone, nothing landed, or only part of
// the range present (history only: the server counts hours/days with a value).
function explain(noteId, quantities, what) {
  const note = document.getElementById(noteId);
  const shown = quantities.filter((q) => (state.series.get(q) || new Map()).size > 0);
  const publishers = [...new Set(quantities.flatMap((q) => state.published[q] || []))];
  let text = "", partial = false;
  if (shown.length === 0) {
    text = publishers.length === 0
      ? `No source publishes ${what} for ${state.zone}.`
      : `No data landed for this ${state.mode === "live" ? "window" : "range"} (${what} is published by ${publishers.join(", ")}).`;
  } else if (state.mode !== "live") {
    const coverage = Math.max(...shown.map((q) => state.coverage[q] ?? 0));
    if (coverage < 99.5) {
      text = `Partial: ${Math.round(coverage)} % of ${state.grain === "daily" ? "days" : "hours"} present.`;
      partial = true;
    }
  }
  note.textContent = text;
  note.hidden = text === "";
  // nothing to draw: no empty 0-1 axis under the explanation
  const canvas = note.parentElement.querySelector("canvas");
  if (canvas) canvas.style.visibility = shown.length === 0 ? "hidden" : "visible";
  note.className = partial ? "note partial" : "note";
  return text;
}

// Net exchange: the published net where a source publishes one for the zone, otherwise the sum
// of the per-border exchanges at the times every border has a value (DK1/DK2: Energi Data
// Service publishes only per-neighbour flows for a price area; Exchange_Sum is Denmark's).
function netExchange(borders) {
  if ((state.series.get("exchange_net") || new Map()).size > 0) return { series: state.series.get("exchange_net"), summed: 0 };
  if ((state.published.exchange_net || []).length > 0 || borders.length === 0) return { series: new Map(), summed: 0 };
  const summed = new Map();
  const maps = borders.map((q) => state.series.get(q));
  for (const ms of maps[0].keys()) {
    let total = 0, complete = true;
    for (const values of maps) { const v = values.get(ms); if (v === undefined || v === null) { complete = false; break; } total += v; }
    if (complete) summed.set(ms, total);
  }
  return { series: summed, summed: borders.length };
}

function latestOf(values) {
  if (!values || values.size === 0) return null;
  let newest = -Infinity;
  for (const ms of values.keys()) if (ms > newest) newest = ms;
  return values.get(newest);
}

function meanOf(values) {
  if (!values || values.size === 0) return null;
  let total = 0, n = 0;
  for (const v of values.values()) if (v !== null) { total += v; n += 1; }
  return n ? total / n : null;
}

function render() {
  const live = state.mode === "live";
  if (live) prune();
  ["mix-chart", "co2-chart", "consumption-chart", "exchange-chart"].forEach((id) => chart(id, id === "mix-chart"));
  const [low, high] = live ? [windowEnd() - WINDOW_MS, windowEnd()] : [state.rangeMin, state.rangeMax];
  for (const c of Object.values(state.charts)) { c.options.scales.x.min = low; c.options.scales.x.max = high; }
  const quantities = [...state.series.keys()];
  const modes = quantities.filter((q) => q.startsWith("production_") && [...state.series.get(q).values()].some((v) => v !== 0));
  const times = [...new Set(modes.flatMap((q) => [...state.series.get(q).keys()]))].sort((a, b) => a - b);
  const mix = chart("mix-chart", true);
  mix.data.datasets = modes.map((q) => {
    const mode = q.replace("production_", "");
    return { label: mode.replace("_", " "), data: points(q, times), fill: true, borderColor: MODE_COLOURS[mode],
             backgroundColor: (MODE_COLOURS[mode] || "#999") + "b0" };
  });
  mix.update("none");
  const co2Label = { co2_intensity_reported: "reported (operator)", co2_intensity_computed: `computed (${state.co2Methods ? state.co2Methods.factor_version : "factors"}, life-cycle)` };
  setLines("co2-chart", ["co2_intensity_reported", "co2_intensity_computed"].filter((q) => state.series.has(q)), (q) => co2Label[q]);
  setLines("consumption-chart", ["consumption", "consumption_forecast_d0"].filter((q) => state.series.has(q)), (q) => q);
  const borders = quantities.filter((q) => q.startsWith("exchange_") && q !== "exchange_net").sort();
  const net = netExchange(borders);
  const exchange = chart("exchange-chart", false);
  exchange.data.datasets = borders.map((q, i) => ({ label: q.replace("exchange_", ""), data: points(q),
    borderColor: LINE_COLOURS[i % LINE_COLOURS.length], fill: false }));
  if (net.series.size > 0) {
    exchange.data.datasets.push({ label: net.summed ? "net (Σ borders)" : "net", borderColor: "#222", borderDash: [4, 3], fill: false,
      data: [...net.series.keys()].sort((a, b) => a - b).map((x) => ({ x, y: net.series.get(x) })) });
  }
  exchange.update("none");

  const productionQuantities = [...new Set([...quantities, ...Object.keys(state.published)])].filter((q) => q.startsWith("production_"));
  explain("note-mix", productionQuantities.length ? productionQuantities : ["production_unknown"], "production");
  explain("note-consumption", ["consumption"], "consumption");
  const borderNames = Object.keys(state.published).filter((q) => q.startsWith("exchange_"));
  explain("note-exchange", borderNames.length ? borderNames : ["exchange_net"], "exchanges");
  const reportedWhy = explain("note-co2", ["co2_intensity_reported", "co2_intensity_computed"], "a CO2 intensity");
  if (!reportedWhy && !(state.series.get("co2_intensity_reported") || new Map()).size) {
    const note = document.getElementById("note-co2");
    note.textContent = (state.published.co2_intensity_reported || []).length
      ? "Reported CO2: no data landed for this range; computed shown."
      : `No source publishes a reported CO2 intensity for ${state.zone}; computed shown.`;
    note.hidden = false;
  }
  if (state.co2Methods) {
    document.getElementById("co2-reported-method").textContent = state.co2Methods.reported;
    document.getElementById("co2-computed-method").textContent = state.co2Methods.computed;
    document.getElementById("co2-why").textContent = state.co2Methods.why_they_differ;
  }

  // Cards: the newest value live; the mean over the range in history.
  const pick = live ? latestOf : meanOf;
  const mw = (v) => (v === null ? "–" : `${Math.round(v).toLocaleString("en")} MW`);
  const consumption = pick(state.series.get("consumption"));
  document.getElementById("card-consumption").textContent = mw(consumption);
  document.getElementById("card-consumption-note").textContent = consumption !== null ? (live ? "" : "mean over the range")
    : (state.published.consumption || []).length ? "no data landed" : `not published for ${state.zone}`;
  const production = modes.map((q) => pick(state.series.get(q))).filter((v) => v !== null);
  document.getElementById("card-production").textContent = production.length ? mw(production.reduce((a, b) => a + b, 0)) : "–";
  document.getElementById("card-production-note").textContent = live ? "" : "mean over the range";
  const netValue = pick(net.series);
  document.getElementById("card-exchange").textContent = mw(netValue);
  document.getElementById("card-exchange-note").textContent = net.summed
    ? `sum of ${net.summed} borders (no net figure is published for ${state.zone})`
    : netValue === null ? ((state.published.exchange_net || []).length ? "no data landed" : `no exchange published for ${state.zone}`) : "";
  const reported = pick(state.series.get("co2_intensity_reported"));
  const co2 = reported ?? pick(state.series.get("co2_intensity_computed"));
  document.getElementById("card-co2").textContent = co2 === null ? "–" : `${Math.round(co2)} g/kWh`;
  document.getElementById("card-co2-note").textContent = co2 === null ? "" : reported !== null ? "reported by the operator" : "computed from the mix";
  document.getElementById("mix-period").textContent = live ? "last 24 h"
    : `${state.from === state.to ? state.from : `${state.from} – ${state.to}`} (${state.grain === "minute" ? "as landed" : state.grain === "hourly" ? "hourly means" : "daily means"})`;
  document.getElementById("last-update").textContent = live
    ? (state.lastInterval ? `newest interval ${formatTime(Date.parse(state.lastInterval))} (${state.lastInterval})` : "no data yet")
    : `${state.zone} in ${state.timeZone}, ${state.grain} data`;
  state.renders += 1;
  document.body.dataset.renders = String(state.renders);
  document.body.dataset.lastInterval = state.lastInterval || "";
  document.body.dataset.points = String(mix.data.datasets.reduce((n, d) => n + d.data.length, 0));
  document.body.dataset.mode = state.mode;
}

async function checkFreshness() {
  if (!state.zone) return;
  const banner = document.getElementById("stale-banner");
  try {
    const report = await api("/freshness");
    if (report.now_utc) state.serverNow = Math.max(state.serverNow || 0, Date.parse(report.now_utc));
    const relevant = [...state.datasets].map((d) => [d, report.datasets[d]]).filter(([, f]) => f && f.stale);
    if (state.datasets.size === 0 && state.mode === "live") {
      banner.textContent = `No data for ${state.zone} in the last 24 h.`;
      banner.hidden = false;
    } else if (relevant.length) {
      banner.textContent = relevant.map(([d, f]) => f.stale_since_utc
        ? `${d}: data stale since ${new Date(f.stale_since_utc).toLocaleString("en-GB", { timeZone: state.timeZone })} (nothing landed for over ${Math.round(f.stale_after_seconds / 60)} min)`
        : `${d}: nothing landed yet`).join(" · ");
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  } catch (error) {
    banner.textContent = `Freshness unknown: ${error.message}`;
    banner.hidden = false;
  }
}

// --- local-calendar ranges (dates are YYYY-MM-DD strings in the zone's calendar) ---------------

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
function dateParts(text) { const [y, m, d] = text.split("-").map(Number); return [y, m, d]; }
function formatDate(y, m, d) { const t = new Date(Date.UTC(y, m - 1, d)); return t.toISOString().slice(0, 10); }
function shiftDays(text, n) { const [y, m, d] = dateParts(text); return formatDate(y, m, d + n); }
function shiftMonths(text, n) { const [y, m] = dateParts(text); return formatDate(y, m + n, 1); }

// The local date the platform clock says it is in the zone (never the browser's clock).
function localToday() {
  const p = localParts(state.serverNow || Date.now(), state.timeZone);
  return formatDate(p.year, p.month, p.day);
}

// [first, last] local dates of the period of `mode` containing the date `anchor`.
function periodOf(mode, anchor) {
  const [y, m, d] = dateParts(anchor);
  if (mode === "day") return [anchor, anchor];
  if (mode === "week") { const monday = shiftDays(anchor, -((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7)); return [monday, shiftDays(monday, 6)]; }
  if (mode === "month") return [formatDate(y, m, 1), formatDate(y, m + 1, 0)];
  if (mode === "year") return [formatDate(y, 1, 1), formatDate(y, 12, 31)];
  throw new Error(`no period for ${mode}`);
}

function setRange(mode, first, last) {
  state.mode = mode;
  if (mode !== "live") {
    [state.from, state.to] = mode === "custom" ? [first, last] : periodOf(mode, first);
    document.getElementById("from").value = state.from;
    document.getElementById("to").value = state.to;
    document.getElementById("range-label").textContent = mode === "custom" ? "" : `${mode} of ${state.from}`;
  }
  document.getElementById("range").value = mode;
}

function step(direction) {
  const span = Math.round((Date.parse(state.to) - Date.parse(state.from)) / 86400000) + 1;
  const anchor = { day: () => shiftDays(state.from, direction), week: () => shiftDays(state.from, 7 * direction),
                   month: () => shiftMonths(state.from, direction), year: () => shiftMonths(state.from, 12 * direction),
                   custom: () => shiftDays(state.from, span * direction) }[state.mode]();
  setRange(state.mode, anchor, state.mode === "custom" ? shiftDays(anchor, span - 1) : null);
  return load();
}

async function main() {
  const select = document.getElementById("zone");
  const zones = await api("/zones");
  for (const z of zones) select.add(new Option(`${z.zone} — ${z.name}`, z.zone));
  const params = new URLSearchParams(location.search);
  const wanted = params.get("zone");
  select.value = zones.some((z) => z.zone === wanted) ? wanted : "DK-DK1";
  state.zone = select.value;
  state.timeZone = (zones.find((z) => z.zone === state.zone) || {}).time_zone || "UTC";
  const mode = ["day", "week", "month", "year", "custom"].includes(params.get("range")) ? params.get("range") : "live";
  state.grainOverride = ["minute", "hourly", "daily"].includes(params.get("grain")) ? params.get("grain") : null;
  if (mode !== "live") {
    const report = await api("/freshness"); // the platform clock's now: "today" in the zone
    state.serverNow = Date.parse(report.now_utc);
    const first = ISO_DATE.test(params.get("from") || params.get("date") || "") ? (params.get("from") || params.get("date")) : localToday();
    const last = ISO_DATE.test(params.get("to") || "") ? params.get("to") : first;
    setRange(mode, first, last);
  }
  select.onchange = () => loadZone(select.value).then(checkFreshness);
  const rangeSelect = document.getElementById("range");
  rangeSelect.onchange = () => {
    const next = rangeSelect.value;
    const anchor = state.from || localToday();
    setRange(next, next === "custom" ? (state.from || anchor) : anchor, next === "custom" ? (state.to || anchor) : null);
    load().then(checkFreshness).catch(showError);
  };
  document.getElementById("prev").onclick = () => step(-1).catch(showError);
  document.getElementById("next").onclick = () => step(1).catch(showError);
  const custom = () => {
    const first = document.getElementById("from").value, last = document.getElementById("to").value;
    if (!ISO_DATE.test(first) || !ISO_DATE.test(last) || first > last) return;
    setRange("custom", first, last);
    load().catch(showError);
  };
  document.getElementById("from").onchange = custom;
  document.getElementById("to").onchange = custom;
  await load();
  await checkFreshness();
  setInterval(checkFreshness, 5000);
}

function showError(error) {
  const banner = document.getElementById("stale-banner");
  banner.textContent = `Dashboard failed to load: ${error.message}`;
  banner.hidden = false;
}

main().catch(showError);

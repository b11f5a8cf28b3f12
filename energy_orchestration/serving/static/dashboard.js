// Live dashboard: loads the last 24 h of a zone from the API, then applies every pushed record
// from the WebSocket, so it updates as soon as data arrives without a reload. A token (when the
// server requires one) is taken from the URL (#token=...) once and kept in localStorage.
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

async function loadZone(zone) {
  state.zone = zone;
  state.series = new Map(); state.datasets = new Set(); state.lastInterval = null;
  history.replaceState(null, "", `?zone=${encodeURIComponent(zone)}`);
  const zones = await api("/zones");
  state.timeZone = (zones.find((z) => z.zone === zone) || {}).time_zone || "UTC";
  await reload();
  connect();
}

async function reload() {
  // Merge, never replace: values pushed over the WebSocket may not have landed in the warehouse yet.
  const data = await api(`/zones/${encodeURIComponent(state.zone)}/dashboard?hours=24`);
  if (data.zone !== state.zone) return;
  if (data.now_utc) state.serverNow = Date.parse(data.now_utc);
  for (const [quantity, points] of Object.entries(data.series)) for (const [t, v] of points) put(quantity, t, v);
  data.datasets.forEach((d) => state.datasets.add(d));
  scheduleRender();
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

function chart(id, stacked) {
  if (state.charts[id]) return state.charts[id];
  const context = document.getElementById(id);
  state.charts[id] = new Chart(context, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, normalized: true, spanGaps: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
      scales: {
        x: { type: "linear", ticks: { callback: (v) => formatTime(v), maxTicksLimit: 8 } },
        y: { stacked, beginAtZero: stacked },
      },
      plugins: { legend: { position: "right", labels: { boxWidth: 12 } },
                 tooltip: { callbacks: { title: (items) => items.length ? formatTime(items[0].parsed.x) : "" } } },
    },
  });
  return state.charts[id];
}

function points(quantity, times) {
  const values = state.series.get(quantity) || new Map();
  return (times || [...values.keys()].sort((a, b) => a - b)).map((x) => ({ x, y: values.has(x) ? values.get(x) : null }));
}

function latest(quantity) {
  const values = state.series.get(quantity);
  if (!values || values.size === 0) return null;
  return values.get(Math.max(...values.keys()));
}

function setLines(id, quantities, label) {
  const c = chart(id, false);
  c.data.datasets = quantities.map((q, i) => ({
    label: label(q), data: points(q), borderColor: LINE_COLOURS[i % LINE_COLOURS.length], fill: false,
  }));
  c.update("none");
}

function render() {
  prune();
  ["mix-chart", "co2-chart", "consumption-chart", "exchange-chart"].forEach((id) => chart(id, id === "mix-chart"));
  const now = windowEnd();
  for (const c of Object.values(state.charts)) { c.options.scales.x.min = now - WINDOW_MS; c.options.scales.x.max = now; }
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
  setLines("co2-chart", ["co2_intensity_reported", "co2_intensity_computed"].filter((q) => state.series.has(q)),
           (q) => q.replace("co2_intensity_", ""));
  setLines("consumption-chart", ["consumption", "consumption_forecast_d0"].filter((q) => state.series.has(q)), (q) => q);
  setLines("exchange-chart", quantities.filter((q) => q.startsWith("exchange_")).sort(), (q) => q.replace("exchange_", ""));

  const mw = (v) => (v === null ? "–" : `${Math.round(v).toLocaleString("en")} MW`);
  document.getElementById("card-consumption").textContent = mw(latest("consumption"));
  const production = modes.map(latest).filter((v) => v !== null);
  document.getElementById("card-production").textContent = production.length ? mw(production.reduce((a, b) => a + b, 0)) : "–";
  document.getElementById("card-exchange").textContent = mw(latest("exchange_net"));
  const co2 = latest("co2_intensity_reported") ?? latest("co2_intensity_computed");
  document.getElementById("card-co2").textContent = co2 === null ? "–" : `${Math.round(co2)} g/kWh`;
  document.getElementById("last-update").textContent = state.lastInterval
    ? `newest interval ${formatTime(Date.parse(state.lastInterval))} (${state.lastInterval})` : "no data yet";
  state.renders += 1;
  document.body.dataset.renders = String(state.renders);
  document.body.dataset.lastInterval = state.lastInterval || "";
  document.body.dataset.points = String(mix.data.datasets.reduce((n, d) => n + d.data.length, 0));
}

async function checkFreshness() {
  if (!state.zone) return;
  const banner = document.getElementById("stale-banner");
  try {
    const report = await api("/freshness");
    if (report.now_utc) state.serverNow = Math.max(state.serverNow || 0, Date.parse(report.now_utc));
    const relevant = [...state.datasets].map((d) => [d, report.datasets[d]]).filter(([, f]) => f && f.stale);
    if (state.datasets.size === 0) {
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

async function main() {
  const select = document.getElementById("zone");
  const zones = await api("/zones");
  for (const z of zones) select.add(new Option(`${z.zone} — ${z.name}`, z.zone));
  const wanted = new URLSearchParams(location.search).get("zone");
  select.value = zones.some((z) => z.zone === wanted) ? wanted : "DK-DK1";
  select.onchange = () => loadZone(select.value).then(checkFreshness);
  await loadZone(select.value);
  await checkFreshness();
  setInterval(checkFreshness, 5000);
}

main().catch((error) => {
  const banner = document.getElementById("stale-banner");
  banner.textContent = `Dashboard failed to load: ${error.message}`;
  banner.hidden = false;
});

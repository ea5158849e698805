// The operator's map: one node's picture (live or replayed) from its server, nothing else.
// HTTP for the static part (/api/info, /api/basemap), a WebSocket for the snapshot and the
// deltas that follow. The bulk of the tracks is one WebGL layer (tracks.js); threats and the
// selected track also get their MIL-STD-2525 symbol (symbols.js).
import * as maplibregl from "./maplibre-gl.mjs";
import { COLORS, TrackLayer } from "./tracks.js";
import { sidc, symbolImage, symbolSvg } from "./symbols.js";

const token = new URLSearchParams(location.search).get("token");
const auth = token ? { Authorization: `Bearer ${token}` } : {};
const tq = token ? `?token=${encodeURIComponent(token)}` : "";
const EMPTY = { type: "FeatureCollection", features: [] };
const $ = (id) => document.getElementById(id);

const state = {
  info: null, node: "", role: "", mode: "live",
  t: 0, recv: 0, rate: 1, seq: 0,
  alerts: new Map(), selected: null, connected: false,
  messages: 0, latencies: [], acks: [], replay: null, ws: null, ready: false,
};
window.__mead = state; // read by the browser tests and the benchmark

const tracks = new TrackLayer();
state.tracks = tracks;

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...auth, ...(opts.headers || {}) } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || `${path}: HTTP ${r.status}`);
  return body;
}

function wireNow() {
  return state.t + (Date.now() / 1000 - state.recv) * state.rate;
}

function hms(t) {
  return new Date(t * 1000).toISOString().slice(11, 19) + "Z";
}

function mmss(s) {
  const neg = s < 0, a = Math.abs(Math.round(s));
  const m = Math.floor(a / 60), r = a % 60;
  return `${neg ? "-" : ""}${m}:${String(r).padStart(2, "0")}`;
}

// ---------------------------------------------------------------- the map
let map;

function style(info) {
  const fillBy = (pre, alert) => ["case", ["==", ["get", "level"], "pre"], pre, alert];
  return {
    version: 8,
    sources: {
      basemap: { type: "geojson", data: `/api/basemap${tq}` },
      coverage: { type: "geojson", data: info.coverage },
      covlayers: { type: "geojson", data: info.coverage_layers || EMPTY },
      areas: { type: "geojson", data: info.areas },
      impacts: { type: "geojson", data: EMPTY },
      routes: { type: "geojson", data: EMPTY },
      icons: { type: "geojson", data: EMPTY },
      sel: { type: "geojson", data: EMPTY },
      lost: { type: "geojson", data: EMPTY },
    },
    layers: [
      { id: "bg", type: "background", paint: { "background-color": "#0c1824" } },
      { id: "land", type: "fill", source: "basemap", filter: ["==", ["get", "kind"], "land"], paint: { "fill-color": "#1c2833" } },
      { id: "borders", type: "line", source: "basemap", filter: ["==", ["get", "kind"], "borders"], paint: { "line-color": "#3d5063", "line-width": 0.8 } },
      { id: "cov-seen", type: "fill", source: "covlayers", filter: covFilter("", false), paint: { "fill-color": "#4aa0d8", "fill-opacity": 0.16 } },
      { id: "cov-gaps", type: "fill", source: "covlayers", filter: covFilter("", true), paint: { "fill-color": "#e04848", "fill-opacity": 0.13 } },
      { id: "cov-line", type: "line", source: "covlayers", filter: ["==", ["get", "layer"], ""], paint: { "line-color": ["case", ["==", ["get", "kind"], "gaps"], "#e04848", "#4aa0d8"], "line-width": 0.8 } },
      { id: "coverage-fill", type: "fill", source: "coverage", paint: { "fill-color": "#4aa0d8", "fill-opacity": 0.05 } },
      { id: "coverage", type: "line", source: "coverage", paint: { "line-color": "#4aa0d8", "line-width": 1.2, "line-dasharray": [4, 3] } },
      { id: "lost-fill", type: "fill", source: "lost", paint: { "fill-color": "#e04848", "fill-opacity": 0.14 } },
      { id: "lost", type: "line", source: "lost", paint: { "line-color": "#ff5a5a", "line-width": 1.6, "line-dasharray": [1, 2] } },
      { id: "areas-fill", type: "fill", source: "areas", paint: { "fill-color": "#60c8ff", "fill-opacity": 0.22 } },
      { id: "areas", type: "line", source: "areas", paint: { "line-color": "#60c8ff", "line-width": 2 } },
      { id: "impacts-fill", type: "fill", source: "impacts", paint: { "fill-color": fillBy("#ff9030", "#ff3030"), "fill-opacity": 0.16 } },
      { id: "impacts", type: "line", source: "impacts", paint: { "line-color": fillBy("#ff9030", "#ff3030"), "line-width": 1.5 } },
      { id: "routes", type: "line", source: "routes", paint: { "line-color": fillBy("#ff9030", "#ff5050"), "line-width": 1.2, "line-dasharray": [2, 2] } },
      { id: "sel", type: "circle", source: "sel", paint: { "circle-radius": 16, "circle-opacity": 0, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 } },
      { id: "icons", type: "symbol", source: "icons", layout: { "icon-image": ["get", "sidc"], "icon-allow-overlap": true, "icon-ignore-placement": true } },
    ],
  };
}

// Coverage per altitude layer: what the node's own radars (a partner) or the alliance (the
// coordinator) see of a drone there, and — at the coordinator — the gaps nobody sees.
function covFilter(layer, gaps) {
  return ["all", ["==", ["get", "layer"], layer], [gaps ? "==" : "!=", ["get", "kind"], "gaps"]];
}

function showCoverage(layer) {
  state.coverageLayer = layer;
  map.setFilter("cov-seen", covFilter(layer, false));
  map.setFilter("cov-gaps", covFilter(layer, true));
  map.setFilter("cov-line", ["==", ["get", "layer"], layer]);
  const rings = layer === "" ? "visible" : "none";
  map.setLayoutProperty("coverage", "visibility", rings);
  map.setLayoutProperty("coverage-fill", "visibility", rings);
  const km2 = (kind) => (state.info.coverage_layers?.features || [])
    .filter((f) => f.properties.layer === layer && (f.properties.kind === "gaps") === (kind === "gaps"))
    .reduce((a, f) => a + f.properties.area_km2, 0);
  $("covarea").textContent = layer === "" ? "" :
    `seen ${Math.round(km2("seen")).toLocaleString("en")} km²` +
    (state.role === "coordinator" ? ` · gaps ${Math.round(km2("gaps")).toLocaleString("en")} km²` : "");
}

function coverageChoices(info) {
  const feats = info.coverage_layers?.features || [];
  const layers = [...new Map(feats.map((f) => [f.properties.layer, f.properties.agl_m])).entries()]
    .sort((a, b) => a[1] - b[1]).map((e) => e[0]);
  const sel = $("covlayer");
  const keep = layers.includes(sel.value) ? sel.value : "";
  sel.innerHTML = '<option value="">radar range rings</option>' +
    layers.map((l) => `<option value="${l}">${l} above ground</option>`).join("");
  if (info.coverage_pending) sel.innerHTML += '<option value="" disabled>layers: computing…</option>';
  sel.value = keep;
  sel.disabled = !layers.length;
  return keep;
}

// A live node computes its coverage layers beside its first seconds of work: ask again.
async function awaitCoverage() {
  while (state.info?.coverage_pending) {
    await new Promise((r) => setTimeout(r, 2000));
    try {
      const info = await api("/api/info");
      if (!info.coverage_pending) {
        state.info.coverage_layers = info.coverage_layers;
        state.info.coverage_pending = false;
        if (state.ready) setOverlays(state.info);
      }
    } catch (err) { /* the node may be stopping: keep the rings */ return; }
  }
}

let areaLabels = [];
function setOverlays(info) {
  map.getSource("coverage").setData(info.coverage);
  map.getSource("covlayers").setData(info.coverage_layers || EMPTY);
  showCoverage(coverageChoices(info));
  map.getSource("areas").setData(info.areas);
  for (const m of areaLabels) m.remove();
  areaLabels = info.areas.features.map((f) => {
    const ring = f.geometry.coordinates[0];
    const lon = Math.max(...ring.map((c) => c[0])), lat = ring.reduce((a, c) => a + c[1], 0) / ring.length;
    const el = document.createElement("div");
    el.textContent = f.properties.name;
    el.style.cssText = "color:#9fdcff;font-size:11px;font-weight:bold;text-shadow:0 0 3px #000;pointer-events:none";
    return new maplibregl.Marker({ element: el, anchor: "left", offset: [4, 0] }).setLngLat([lon, lat]).addTo(map);
  });
}

function initMap(info) {
  map = new maplibregl.Map({
    container: "map", style: style(info), bounds: info.bounds, fitBoundsOptions: { padding: 40 },
    attributionControl: false, fadeDuration: 0, maxPitch: 0, dragRotate: false,
  });
  state.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.on("load", () => {
    map.addLayer(tracks, "sel");
    setOverlays(info);
    state.ready = true;
    connect();
  });
  map.on("click", (e) => select(tracks.pick(e.point)?.key ?? null));
  $("covlayer").addEventListener("change", (e) => showCoverage(e.target.value));
}

// ---------------------------------------------------------------- messages
function rowsOf(cols) {
  const out = [];
  if (!cols) return out;
  const n = cols.key.length;
  const own = state.role === "coordinator";
  for (let i = 0; i < n; i++) {
    const key = cols.key[i];
    out.push({
      key, lat: cols.lat[i], lon: cols.lon[i], alt: cols.alt[i], crs: cols.crs[i], spd: cols.spd[i],
      vz: cols.vz[i], cls: cols.cls[i], aff: cols.aff[i], q: cols.q[i],
      layer: own || !key.startsWith("S") ? "own" : "picture",
    });
  }
  return out;
}

function onMessage(msg) {
  state.messages++;
  const now = Date.now() / 1000;
  if (msg.type === "replay") return onReplay(msg);
  if (msg.type === "error") { status(msg.detail, true); return; }
  state.t = msg.t; state.recv = now; state.rate = msg.rate; state.seq = msg.seq;
  if (msg.type === "snapshot") {
    tracks.clear();
    for (const r of rowsOf(msg.tracks)) tracks.upsert(r);
    state.alerts = new Map(msg.alerts.map((a) => [a.alert_id, a]));
  } else if (msg.type === "delta") {
    for (const r of rowsOf(msg.upd)) tracks.upsert(r);
    for (const k of msg.del) tracks.remove(k);
    for (const a of msg.alerts) state.alerts.set(a.alert_id, a);
  }
  if (msg.lost) showLost(msg.lost);
  if (state.selected && !tracks.get(state.selected)) state.selected = null;
  refresh();
  if (msg.upd && msg.wall) {
    state.latencies.push(Date.now() / 1000 - msg.wall);
    if (state.latencies.length > 5000) state.latencies.splice(0, 1000);
  }
}

function refresh() {
  if (!map) return;
  const feats = [];
  for (const r of tracks.rows) {
    if (r.aff === "hostile" || r.aff === "suspect" || r.key === state.selected) {
      if (tracks.hidden.has(r.layer)) continue;
      const code = sidc(r.cls, r.aff);
      if (!map.hasImage(code)) map.addImage(code, symbolImage(code).data);
      feats.push({ type: "Feature", properties: { key: r.key, sidc: code }, geometry: { type: "Point", coordinates: [r.lon, r.lat] } });
    }
  }
  map.getSource("icons").setData({ type: "FeatureCollection", features: feats });
  const sel = state.selected && tracks.get(state.selected);
  map.getSource("sel").setData(sel ? { type: "Feature", properties: {}, geometry: { type: "Point", coordinates: [sel.lon, sel.lat] } } : EMPTY);
  drawImpacts();
  renderAlerts();
  renderDetails();
  map.triggerRepaint();
}

function circle(lon, lat, radius_m, n = 64) {
  const R = 6371008.8, d = radius_m / R, p1 = (lat * Math.PI) / 180, l1 = (lon * Math.PI) / 180;
  const ring = [];
  for (let i = 0; i <= n; i++) {
    const b = (2 * Math.PI * i) / n;
    const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
    const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
    ring.push([(l2 * 180) / Math.PI, (p2 * 180) / Math.PI]);
  }
  return ring;
}

function openAlerts() {
  return [...state.alerts.values()].filter((a) => a.state !== "cancelled");
}

function drawImpacts() {
  const regions = [], routes = [];
  for (const a of openAlerts()) {
    const props = { level: a.level, alert_id: a.alert_id };
    regions.push({ type: "Feature", properties: props, geometry: { type: "Polygon", coordinates: [circle(a.impact_lon_deg, a.impact_lat_deg, Math.max(a.impact_radius_m, 500))] } });
    const tr = tracks.get(a.key);
    const from = tr ? [tr.lon, tr.lat] : [a.track_lon_deg, a.track_lat_deg];
    routes.push({ type: "Feature", properties: props, geometry: { type: "LineString", coordinates: [from, [a.impact_lon_deg, a.impact_lat_deg]] } });
  }
  map.getSource("impacts").setData({ type: "FeatureCollection", features: regions });
  map.getSource("routes").setData({ type: "FeatureCollection", features: routes });
}

// ---------------------------------------------------------------- the side panel
function renderAlerts() {
  const now = wireNow();
  const list = openAlerts().sort((a, b) => a.t_impact - b.t_impact);
  // rebuild only when the list changed (a rebuild under the operator's click would lose it)
  const sig = list.map((a) => `${a.alert_id}|${a.state}|${a.level}|${a.t_impact}|${a.key}|${!!a.acked}`).join(";") + state.mode;
  if (sig === renderAlerts.sig) return;
  renderAlerts.sig = sig;
  $("alert-count").textContent = list.length ? `(${list.length})` : "";
  const box = $("alerts");
  if (!list.length) { box.innerHTML = '<div class="none">No alerts</div>'; return; }
  box.innerHTML = "";
  for (const a of list) {
    const el = document.createElement("div");
    el.className = `alert ${a.level === "pre" ? "pre" : ""} ${a.acked ? "acked" : ""}`;
    el.dataset.alertId = a.alert_id;
    const from = state.role === "coordinator" ? `sent to ${a.recipient}` : a.via === state.node ? "own" : `via ${a.via}`;
    el.innerHTML = `
      <div class="area"><span class="badge">${a.level === "pre" ? "PRE" : "ALERT"}</span>${a.area}</div>
      <div class="tgo" data-t-impact="${a.t_impact}">${mmss(a.t_impact - now)}</div>
      <div class="meta">${a.threat_class} · track ${a.key} · ${from} · p ${a.p_area.toFixed(2)}${a.held ? '<br><span class="held">HELD: track lost where coverage is lost · last prediction</span>' : ""}</div>
      ${state.mode === "live" ? `<button ${a.acked ? "disabled" : ""}>${a.acked ? `ACK ${a.acked.by || ""}` : "Acknowledge"}</button>` : "<span></span>"}`;
    const btn = el.querySelector("button");
    if (btn) btn.addEventListener("click", (e) => { e.stopPropagation(); acknowledge(a, e.target); });
    el.addEventListener("click", () => select(a.key, true));
    box.appendChild(el);
  }
}

async function acknowledge(a, button) {
  button.disabled = true;
  button.textContent = "sending…";
  try {
    const r = await api(`/api/alerts/${encodeURIComponent(a.alert_id)}/ack`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by: "operator" }),
    });
    state.acks.push(r);
    button.textContent = r.status === "pending" ? "recording…" : "ACK";
  } catch (err) {
    button.disabled = false;
    button.textContent = "Acknowledge";
    status(`acknowledge failed: ${err.message}`, true);
  }
}

function tick() {
  const now = wireNow();
  if (state.t) $("clock").textContent = hms(now);
  for (const el of document.querySelectorAll(".tgo")) el.textContent = mmss(+el.dataset.tImpact - now);
  const tgo = document.querySelector("#details .tgo-cell");
  if (tgo) tgo.textContent = mmss(+tgo.dataset.tImpact - now);
}

function select(key, fly = false) {
  state.selected = key;
  tracks.selected = key;
  tracks.dirty = true;
  const r = key && tracks.get(key);
  if (r && fly) map.easeTo({ center: [r.lon, r.lat], duration: 500 });
  refresh();
}

function renderDetails() {
  const box = $("details");
  const r = state.selected && tracks.get(state.selected);
  if (!r) { box.innerHTML = '<div class="none">Click a track on the map</div>'; return; }
  const threats = openAlerts().filter((a) => a.key === r.key).sort((a, b) => a.t_impact - b.t_impact);
  const fl = Math.round(r.alt / 30.48);
  const rows = [
    ["Track", r.key], ["Class", r.cls], ["Identity", r.aff],
    ["Speed", `${Math.round(r.spd)} m/s (${Math.round(r.spd * 1.94384)} kt)`],
    ["Altitude", `${Math.round(r.alt).toLocaleString("en")} m${r.alt < 20000 ? ` (FL${String(Math.max(fl, 0)).padStart(3, "0")})` : ""}`],
    ["Course", `${Math.round(r.crs)}°  climb ${Math.round(r.vz)} m/s`],
    ["Quality", r.q.toFixed(2)], ["Source", r.layer === "own" ? "own picture" : "coalition picture"],
  ];
  let html = `<div class="sym">${symbolSvg(sidc(r.cls, r.aff), 26)}</div><table>`;
  for (const [k, v] of rows) html += `<tr><td>${k}</td><td>${v}</td></tr>`;
  if (threats.length) {
    const a = threats[0];
    html += `<tr><td>Time to go</td><td class="tgo-cell" data-t-impact="${a.t_impact}">${mmss(a.t_impact - wireNow())}</td></tr>`;
    html += `<tr><td>Threatens</td><td>${threats.map((x) => x.area).join(", ")}</td></tr>`;
  }
  box.innerHTML = html + "</table>";
}

function legend() {
  const names = { hostile: "hostile", suspect: "suspect", unknown: "unknown", friend: "friend", neutral: "civil" };
  let html = "";
  for (const [aff, c] of Object.entries(COLORS)) html += `<span class="dot" style="background:rgb(${c})"></span>${names[aff]}`;
  html += '<br><label><input type="checkbox" data-layer="own" checked> own tracks</label>';
  if (state.role === "partner") html += '<label><input type="checkbox" data-layer="picture" checked> coalition picture (rings)</label>';
  $("legend").innerHTML = html;
  for (const box of $("legend").querySelectorAll("input")) {
    box.addEventListener("change", () => {
      if (box.checked) tracks.hidden.delete(box.dataset.layer); else tracks.hidden.add(box.dataset.layer);
      tracks.dirty = true;
      refresh();
    });
  }
}

// Coverage partners reported lost (the coordinator's map): the ground a radar down or
// degraded no longer covers, where its partner's policy released its site and range, and
// a line per radar in the side panel either way.
function showLost(lost) {
  state.lost = lost;
  if (map && map.getSource("lost")) map.getSource("lost").setData(lost);
  const items = lost.features.map((f) => {
    const p = f.properties;
    const reach = p.state === "degraded" ? ` to ${Math.round(p.reach * 100)} %` : "";
    return `${p.partner} ${p.radar} ${p.state}${reach}`;
  });
  const el = $("lost");
  el.textContent = items.length ? `Coverage lost: ${items.join(" · ")}` : "";
  el.style.display = items.length ? "block" : "none";
}

function status(text, bad = false) {
  const el = $("status");
  el.textContent = text;
  el.className = `status ${bad ? "bad" : ""}`;
}

function header(info) {
  state.node = info.node; state.role = info.role;
  $("node").textContent = info.node;
  $("role").textContent = `${info.role} · ${info.scenario}${info.run ? ` · ${info.run}` : ""}`;
  document.title = `MEAD — ${info.node}`;
  legend();
}

// ---------------------------------------------------------------- the connection
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/ws${tq}`);
  state.ws = ws;
  ws.onopen = () => { state.connected = true; status(state.mode === "live" ? "live" : "replay"); };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => {
    state.connected = false;
    status("disconnected — retrying", true);
    setTimeout(connect, 2000);
  };
}

function send(cmd) {
  if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(cmd));
}

// ---------------------------------------------------------------- replay controls
function initReplay(info) {
  $("replay").style.display = "flex";
  const which = $("which");
  for (const run of info.runs) {
    for (const node of run.nodes) {
      const o = document.createElement("option");
      o.value = `${run.run}/${node}`;
      o.textContent = `${run.run} · ${node}`;
      which.appendChild(o);
    }
  }
  which.value = `${info.run}/${info.node}`;
  which.addEventListener("change", () => {
    const [run, node] = which.value.split("/");
    send({ cmd: "select", run, node });
  });
  $("play").addEventListener("click", () => send({ cmd: state.replay?.playing ? "pause" : "play" }));
  $("speed").addEventListener("change", () => send({ cmd: "speed", value: +$("speed").value }));
  const slider = $("slider");
  slider.min = info.t0; slider.max = info.t1; slider.value = info.t0;
  slider.addEventListener("input", () => send({ cmd: "seek", t: +slider.value }));
}

function onReplay(msg) {
  state.replay = msg;
  $("play").textContent = msg.playing ? "❚❚" : "▶";
  $("speed").value = String(msg.speed);
  const slider = $("slider");
  if (document.activeElement !== slider) slider.value = msg.t;
  $("rtime").textContent = `${hms(msg.t)} (+${mmss(msg.t - msg.t0)})`;
  state.t = msg.t; state.recv = Date.now() / 1000; state.rate = msg.playing ? msg.speed : 0;
  if (msg.info) {
    if (state.info && state.info.node !== msg.info.node) map.fitBounds(msg.info.bounds, { padding: 40, duration: 0 });
    state.info = msg.info;
    header(msg.info);
    setOverlays(msg.info);
    $("which").value = `${msg.info.run}/${msg.info.node}`;
  }
}

async function main() {
  let info;
  try {
    info = await api("/api/info");
  } catch (err) {
    status(`cannot load the map: ${err.message}`, true);
    return;
  }
  state.info = info;
  state.mode = info.mode;
  header(info);
  if (info.mode === "replay") initReplay(info);
  initMap(info);
  setInterval(tick, 250);
  awaitCoverage();
}

main();

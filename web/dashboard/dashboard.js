// bilmod dashboard: lists the tracking folder's projects and runs and draws their metric curves as SVG,
// polling the server every two seconds so the curves grow while runs train. No library: this file is the
// whole client, served by bilmod itself, so the page works offline.
//
// The page's state (project, runs, metrics, x axis, log axes) lives in the URL's hash, so a view can be
// bookmarked, shared, or opened directly by a test:
//   /#project=P&runs=RUN_ID,RUN_ID&metrics=val/accuracy,train/accuracy&x=epoch&logx=1&logy=0
"use strict";

const POLL_MS = 2000;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const DEFAULT_METRICS = ["train/accuracy", "val/accuracy", "train/loss", "val/loss"];
const CHART = { width: 520, height: 300, left: 58, right: 12, top: 10, bottom: 34 };
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  project: null,
  runs: [],                  // the project's runs, as /api/runs lists them
  selectedRuns: null,        // Set of run ids; null: every run (so new runs appear by themselves)
  metrics: null,             // Set of metric names; null: the defaults that exist
  x: "step",
  logX: false,
  logY: false,
  data: new Map(),           // run_id -> { lastId, rows: [[step, {metric: value}]] }
};

// ---- the URL hash ----

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("project")) state.project = params.get("project");
  if (params.get("runs")) state.selectedRuns = new Set(params.get("runs").split(","));
  if (params.get("metrics")) state.metrics = new Set(params.get("metrics").split(","));
  if (params.get("x") === "epoch") state.x = "epoch";
  state.logX = params.get("logx") === "1";
  state.logY = params.get("logy") === "1";
}

function writeHash() {
  const params = new URLSearchParams();
  if (state.project) params.set("project", state.project);
  if (state.selectedRuns) params.set("runs", [...state.selectedRuns].join(","));
  if (state.metrics) params.set("metrics", [...state.metrics].join(","));
  params.set("x", state.x);
  params.set("logx", state.logX ? "1" : "0");
  params.set("logy", state.logY ? "1" : "0");
  history.replaceState(null, "", "#" + params.toString());
}

// ---- talking to bilmod ----

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
  return body;
}

function isSelected(runId) {
  return state.selectedRuns === null || state.selectedRuns.has(runId);
}

// Fetches only the rows written since the last poll (the server answers rows with id > after).
async function pollRun(run) {
  let entry = state.data.get(run.run_id);
  if (!entry) {
    entry = { lastId: 0, rows: [] };
    state.data.set(run.run_id, entry);
  }
  if (run.last_row_id < entry.lastId) {  // rows were deleted (a resumed run redoing its last steps): start over
    entry.lastId = 0;
    entry.rows = [];
  }
  if (run.last_row_id === entry.lastId) return;
  const url = "/api/metrics?project=" + encodeURIComponent(state.project) + "&run=" + encodeURIComponent(run.run_id) +
              "&after=" + entry.lastId;
  const answer = await getJSON(url);
  for (const row of answer.rows) entry.rows.push(row);
  entry.lastId = answer.last_id;
}

// One poll at a time: a click during a poll asks for another right after it, never a second loop.
let refreshTimer = null, refreshing = false, refreshAgain = false;
function scheduleRefresh(ms) {
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, ms);
}

async function refresh() {
  refreshTimer = null;
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    const answer = await getJSON("/api/projects");
    document.getElementById("folder").textContent = answer.tracking_dir;
    const names = answer.projects.map((p) => p.name);
    if (!state.project || !names.includes(state.project)) state.project = names.length ? names[0] : null;
    renderProjects(answer.projects);
    if (state.project) {
      const runs = await getJSON("/api/runs?project=" + encodeURIComponent(state.project));
      state.runs = runs.runs;
      for (const run of state.runs) if (isSelected(run.run_id)) await pollRun(run);
    } else {
      state.runs = [];
    }
    renderRuns();
    renderMetricChoices();
    renderCharts();
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (error) {
    setStatus("error: " + error.message);
  }
  document.body.dataset.ready = "1";  // a test waits for the first complete draw
  refreshing = false;
  scheduleRefresh(refreshAgain ? 0 : POLL_MS);
  refreshAgain = false;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

// ---- the side panel ----

function renderProjects(projects) {
  const list = document.getElementById("projects");
  list.replaceChildren();
  for (const project of projects) {
    const item = document.createElement("li");
    item.textContent = project.name + (project.error ? " (unreadable)" : " (" + project.runs + ")");
    item.title = project.error || project.last_logged || "";
    item.dataset.project = project.name;
    if (project.name === state.project) item.className = "selected";
    item.onclick = () => {
      state.project = project.name;
      state.selectedRuns = null;
      state.data.clear();
      writeHash();
      refreshSoon();
    };
    list.appendChild(item);
  }
}

function runColor(runId) {
  const index = state.runs.findIndex((run) => run.run_id === runId);
  return COLORS[(index < 0 ? 0 : index) % COLORS.length];
}

function formatAccuracy(x) {
  return x === null || x === undefined ? "-" : x.toFixed(3);
}

function renderRuns() {
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  for (const run of state.runs) {
    const row = document.createElement("tr");
    row.dataset.runId = run.run_id;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = isSelected(run.run_id);
    box.onchange = () => {
      if (state.selectedRuns === null) state.selectedRuns = new Set(state.runs.map((r) => r.run_id));
      if (box.checked) state.selectedRuns.add(run.run_id);
      else state.selectedRuns.delete(run.run_id);
      writeHash();
      refreshSoon();
    };
    const cells = [box, null, run.model || "-", run.mod_basis < 0 ? "-" : run.mod_basis,
                   run.epochs_done < 0 ? "-" : run.epochs_done, formatAccuracy(run.val_accuracy),
                   run.generalised_epoch < 0 ? "never" : "epoch " + run.generalised_epoch];
    cells.forEach((content, i) => {
      const cell = document.createElement("td");
      if (i === 0) cell.appendChild(content);
      else if (i === 1) {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = runColor(run.run_id);
        cell.append(swatch, run.name);
        cell.className = "run-name";
        cell.title = run.run_id + (run.group ? " (group " + run.group + ")" : "");
      } else cell.textContent = content;
      row.appendChild(cell);
    });
    body.appendChild(row);
  }
}

function knownMetrics() {
  const names = new Set();
  for (const run of state.runs) {
    const entry = state.data.get(run.run_id);
    if (!entry || !isSelected(run.run_id)) continue;
    for (const [, metrics] of entry.rows) for (const name of Object.keys(metrics)) if (name !== "epoch") names.add(name);
  }
  return [...names].sort();
}

function chosenMetrics(available) {
  if (state.metrics !== null) return available.filter((name) => state.metrics.has(name));
  return DEFAULT_METRICS.filter((name) => available.includes(name));
}

function renderMetricChoices() {
  const box = document.getElementById("metrics");
  const available = knownMetrics();
  const chosen = new Set(chosenMetrics(available));
  box.replaceChildren();
  for (const name of available) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.checked = chosen.has(name);
    input.dataset.metric = name;
    input.onchange = () => {
      if (input.checked) chosen.add(name);
      else chosen.delete(name);
      state.metrics = new Set(chosen);
      writeHash();
      renderCharts();
    };
    label.append(input, " " + name);
    box.appendChild(label);
  }
}

// ---- the charts ----

// A run's step -> epoch map: a line through its first and last evaluation (steps per epoch are constant in a
// run), so per-step metrics such as train/batch_loss can be drawn against epoch too.
function epochOfStep(rows) {
  const evaluations = rows.filter(([, m]) => typeof m.epoch === "number");
  if (evaluations.length < 2) return null;
  const [s0, m0] = evaluations[0], [s1, m1] = evaluations[evaluations.length - 1];
  if (s1 === s0 || m1.epoch === m0.epoch) return null;
  const epochsPerStep = (m1.epoch - m0.epoch) / (s1 - s0);
  return (step) => m0.epoch + (step - s0) * epochsPerStep;
}

function seriesOf(runId, metric) {
  const entry = state.data.get(runId);
  if (!entry) return [];
  const toEpoch = state.x === "epoch" ? epochOfStep(entry.rows) : null;
  const points = [];
  for (const [step, metrics] of entry.rows) {
    const y = metrics[metric];
    if (typeof y !== "number" || !isFinite(y)) continue;
    let x = step;
    if (state.x === "epoch") {
      if (typeof metrics.epoch === "number") x = metrics.epoch;
      else if (toEpoch) x = toEpoch(step);
      else continue;
    }
    if (state.logX && x <= 0) continue;  // no place for 0 on a log axis
    if (state.logY && y <= 0) continue;
    points.push([x, y]);
  }
  points.sort((a, b) => a[0] - b[0]);
  return points;
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count, magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

function logTicks(lo, hi) {  // lo, hi in log10 units
  const ticks = [];
  for (let k = Math.ceil(lo); k <= Math.floor(hi); ++k) ticks.push(k);
  if (ticks.length >= 2) return ticks;
  return niceTicks(lo, hi, 4);  // less than a decade: ticks between powers of ten
}

function formatTick(value, log) {
  const v = log ? Math.pow(10, value) : value;
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("+", "");
  return String(Number(v.toPrecision(3)));
}

function svg(tag, attributes, parent) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.appendChild(element);
  return element;
}

// More points than pixels cannot be seen: keep each pixel column's first, lowest and highest point, so spikes
// (a loss blow-up) survive the thinning.
function thin(points, toPixelX, budget) {
  if (points.length <= budget) return points;
  const kept = [];
  let column = null, bucket = [];
  const flush = () => {
    if (!bucket.length) return;
    const low = bucket.reduce((a, b) => (b[1] < a[1] ? b : a)), high = bucket.reduce((a, b) => (b[1] > a[1] ? b : a));
    const picks = [bucket[0], low, high].sort((a, b) => a[0] - b[0]);
    for (const p of picks) if (kept[kept.length - 1] !== p) kept.push(p);
    bucket = [];
  };
  for (const p of points) {
    const c = Math.round(toPixelX(p[0]));
    if (c !== column) {
      flush();
      column = c;
    }
    bucket.push(p);
  }
  flush();
  return kept;
}

function drawChart(metric, runIds) {
  const series = runIds.map((id) => ({ id, points: seriesOf(id, metric) })).filter((s) => s.points.length);
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.metric = metric;
  const title = document.createElement("h3");
  title.textContent = metric;
  box.appendChild(title);
  const { width, height, left, right, top, bottom } = CHART;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, "data-metric": metric });
  box.appendChild(root);
  if (!series.length) {
    svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, root).textContent = "no data";
    return box;
  }
  const fx = state.logX ? Math.log10 : (v) => v, fy = state.logY ? Math.log10 : (v) => v;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series)
    for (const [x, y] of s.points) {
      x0 = Math.min(x0, fx(x)); x1 = Math.max(x1, fx(x));
      y0 = Math.min(y0, fy(y)); y1 = Math.max(y1, fy(y));
    }
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.04;
  y0 -= pad; y1 += pad;
  const px = (x) => left + ((fx(x) - x0) / (x1 - x0)) * (width - left - right);
  const py = (y) => height - bottom - ((fy(y) - y0) / (y1 - y0)) * (height - top - bottom);
  const xTicks = state.logX ? logTicks(x0, x1) : niceTicks(x0, x1, 6);
  const yTicks = state.logY ? logTicks(y0, y1) : niceTicks(y0, y1, 5);
  for (const t of xTicks) {
    const X = left + ((t - x0) / (x1 - x0)) * (width - left - right);
    svg("line", { class: "grid", x1: X, x2: X, y1: top, y2: height - bottom }, root);
    svg("text", { x: X, y: height - bottom + 14, "text-anchor": "middle" }, root).textContent = formatTick(t, state.logX);
  }
  for (const t of yTicks) {
    const Y = height - bottom - ((t - y0) / (y1 - y0)) * (height - top - bottom);
    svg("line", { class: "grid", x1: left, x2: width - right, y1: Y, y2: Y }, root);
    svg("text", { x: left - 5, y: Y + 4, "text-anchor": "end" }, root).textContent = formatTick(t, state.logY);
  }
  svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }, root);
  svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }, root);
  svg("text", { x: (left + width - right) / 2, y: height - 4, "text-anchor": "middle" }, root).textContent =
      state.x + (state.logX ? " (log)" : "");
  let total = 0;
  for (const s of series) {
    const drawn = thin(s.points, px, 2 * (width - left - right));
    const line = svg("polyline", {
      points: drawn.map(([x, y]) => px(x).toFixed(1) + "," + py(y).toFixed(1)).join(" "),
      stroke: runColor(s.id),
      "data-run": s.id,
      "data-points": s.points.length,  // the series' data points (what a test counts)
      "data-drawn": drawn.length,      // the vertices actually drawn after thinning
    }, root);
    const run = state.runs.find((r) => r.run_id === s.id);
    svg("title", {}, line).textContent = (run ? run.name : s.id) + ": " + s.points.length + " points";
    total += s.points.length;
  }
  root.dataset.points = total;
  return box;
}

function renderCharts() {
  const charts = document.getElementById("charts");
  charts.replaceChildren();
  const runIds = state.runs.map((r) => r.run_id).filter(isSelected);
  const metrics = chosenMetrics(knownMetrics());
  if (!state.project || !runIds.length || !metrics.length) {
    const note = document.createElement("p");
    note.className = "empty";
    note.textContent = !state.project ? "No projects in this tracking folder yet." : "Choose runs and metrics on the left.";
    charts.appendChild(note);
    return;
  }
  for (const metric of metrics) charts.appendChild(drawChart(metric, runIds));
}

// ---- wiring ----

function refreshSoon() {
  // A click redraws at once with what is loaded, and asks the server for what is new.
  renderRuns();
  renderMetricChoices();
  renderCharts();
  scheduleRefresh(0);
}

function init() {
  readHash();
  const xAxis = document.getElementById("x-axis"), logX = document.getElementById("log-x"), logY = document.getElementById("log-y");
  xAxis.value = state.x;
  logX.checked = state.logX;
  logY.checked = state.logY;
  xAxis.onchange = () => { state.x = xAxis.value; writeHash(); renderCharts(); };
  logX.onchange = () => { state.logX = logX.checked; writeHash(); renderCharts(); };
  logY.onchange = () => { state.logY = logY.checked; writeHash(); renderCharts(); };
  refresh();
}

init();

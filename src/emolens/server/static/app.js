// emolens dashboard: plain JavaScript over the /v1 API. Text from the server is only ever
// set as textContent, never as HTML. The API key stays in this tab's sessionStorage.
"use strict";

const KEY_STORE = "emolens.key";
const LANG_STORE = "emolens.lang";
const state = {
  strings: {},
  lang: localStorage.getItem(LANG_STORE) ||
    ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en"),
  key: sessionStorage.getItem(KEY_STORE) || "",
  authOff: false,
  stats: null,
  lastResults: [],
  status: null,
  drill: null,
};

const $ = (id) => document.getElementById(id);

// -- strings ---------------------------------------------------------------------------------

function t(name, values = {}) {
  const table = state.strings[state.lang] || {};
  let text = table[name] ?? (state.strings.en || {})[name] ?? name;
  for (const [k, v] of Object.entries(values)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

function labelName(label) {
  const key = `label_${label}`;
  const table = state.strings[state.lang] || {};
  return key in table ? table[key] : label;
}

function modalityName(modality) {
  const key = `modality_${modality}`;
  const table = state.strings[state.lang] || {};
  return key in table ? table[key] : modality;
}

function applyStrings() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  $("lang-toggle").textContent = t("lang_switch");
  showKeyState();
  fillLabelFilter();
  fillModelFilter();
  if (state.status) setStatus(state.status.name, state.status.values);
  if (state.lastResults.length) renderResults(state.lastResults);
  if (state.stats) renderStats(state.stats);
  if (state.drill) renderDrill(state.drill);
  if (typeof redrawMedia === "function") redrawMedia();  // media.js, when loaded
  if (typeof redrawLive === "function") redrawLive();  // live.js, when loaded
  if (typeof redrawAlerts === "function") redrawAlerts();  // alerts.js, when loaded
}

// -- API ---------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).detail || message; } catch (_) { /* not JSON */ }
    if (response.status === 401) askForKey(state.key ? t("key_rejected") : t("key_missing"));
    throw new ApiError(response.status, message);
  }
  return response;
}

function query(filters) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
  const text = params.toString();
  return text ? `?${text}` : "";
}

// -- key -------------------------------------------------------------------------------------

function askForKey(message) {
  $("key-panel").hidden = false;
  $("key-error").textContent = message || "";
  $("key-input").focus();
}

function showKeyState() {
  $("key-state").textContent = state.authOff ? t("auth_off") : state.key ? t("key_on") : "";
  $("key-change").hidden = state.authOff || !state.key;
}

async function saveKey() {
  state.key = $("key-input").value.trim();
  sessionStorage.setItem(KEY_STORE, state.key);
  $("key-input").value = "";
  try {
    await api("/v1/models");
    $("key-panel").hidden = true;
    showKeyState();
    await loadStats();
    if (typeof loadAlerts === "function") await loadAlerts();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) showError(err);
  }
}

// -- analyse ---------------------------------------------------------------------------------

async function analyze() {
  const texts = $("texts").value.split("\n").map((s) => s.trim()).filter(Boolean);
  if (!texts.length) { setStatus("nothing_to_analyze"); return; }
  const body = { texts, store: $("store").checked };
  if ($("source-in").value.trim()) body.source = $("source-in").value.trim();
  if ($("group-in").value.trim()) body.group = $("group-in").value.trim();
  $("analyze-btn").disabled = true;
  setStatus("analyzing");
  try {
    const data = await (await api("/v1/analyze/text", { method: "POST", json: body })).json();
    state.lastResults = data.results;
    renderResults(data.results);
    setStatus("analyzed", { n: data.results.length, stored: data.stored });
    if (body.store) await loadStats();
  } catch (err) {
    setStatus("error", { msg: err.message });
  } finally {
    $("analyze-btn").disabled = false;
  }
}

// The status line is kept as a string name and values, so a language switch redraws it.
function setStatus(name, values = {}) {
  state.status = { name, values };
  $("analyze-status").textContent = t(name, values);
}

function colorOf(label) {
  return (state.stats && state.stats.colors[label]) || DEFAULT_COLORS[label] || "#17becf";
}

const DEFAULT_COLORS = {
  anger: "#d62728", disgust: "#6b8e23", fear: "#7b4fa6", joy: "#e6b000",
  sadness: "#1f77b4", surprise: "#ff7f0e", neutral: "#8c8c8c",
};

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function chip(label) {
  const span = document.createElement("span");
  span.className = "label-chip";
  span.style.background = colorOf(label);
  span.textContent = labelName(label);
  return span;
}

function renderResults(results) {
  const body = $("results-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of results) {
    const row = document.createElement("tr");
    row.className = "result-row";
    row.dataset.label = r.label;
    cell(row, r.text, "text");
    cell(row, r.language);
    const emotion = cell(row, "");
    emotion.appendChild(chip(r.label));
    emotion.appendChild(document.createTextNode(` ${(100 * r.scores[r.label]).toFixed(0)}%`));
    cell(row, "").appendChild(scoreBars(r.scores));
    body.appendChild(row);
  }
  $("results-table").hidden = results.length === 0;
}

// One bar per label, highest first (also used by media.js).
function scoreBars(scores) {
  const bars = document.createElement("div");
  bars.className = "bars";
  const sorted = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of sorted) {
    const name = document.createElement("span");
    name.textContent = labelName(label);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    fill.style.background = colorOf(label);
    bar.appendChild(fill);
    const pct = document.createElement("span");
    pct.textContent = `${(100 * p).toFixed(0)}%`;
    bars.append(name, bar, pct);
  }
  return bars;
}

// -- explore -------------------------------------------------------------------------------------

function localToIso(value) {
  return value ? new Date(value).toISOString() : "";
}

function filters() {
  return {
    source: $("f-source").value.trim(),
    group: $("f-group").value.trim(),
    label: $("f-label").value,
    model: $("f-model").value,
    since: localToIso($("f-since").value),
    until: localToIso($("f-until").value),
  };
}

function fillLabelFilter() {
  const select = $("f-label");
  const chosen = select.value;
  const labels = state.stats ? state.stats.distribution.labels : Object.keys(DEFAULT_COLORS);
  const first = select.options[0];
  first.textContent = t("all_labels");
  select.replaceChildren(first);
  for (const label of labels) select.appendChild(new Option(labelName(label), label));
  select.value = chosen;
}

// The models (name@version) behind the stored results shown; the one chosen stays listed.
function fillModelFilter() {
  const select = $("f-model");
  const chosen = select.value;
  const models = new Set((state.stats ? state.stats.models : []).map((m) => m.model));
  models.delete("");  // results stored without a model name cannot be picked by it
  if (chosen) models.add(chosen);
  const first = select.options[0];
  first.textContent = t("all_models");
  select.replaceChildren(first);
  for (const model of [...models].sort()) select.appendChild(new Option(model, model));
  select.value = chosen;
}

async function loadStats() {
  try {
    const bucket = $("f-bucket").value;
    const data = await (await api(`/v1/stats${query({ ...filters(), bucket })}`)).json();
    state.stats = data;
    fillLabelFilter();
    fillModelFilter();
    renderStats(data);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) showError(err);
  }
}

function layout(title, extra = {}) {
  return {
    title: { text: title, font: { size: 14 }, x: 0.02, xanchor: "left" },
    margin: { l: 55, r: 20, t: 45, b: 50 },
    font: { family: "system-ui, 'emolens CJK', sans-serif", size: 12 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    ...extra,
  };
}

const PLOT_CONFIG = { displaylogo: false, responsive: true };

function renderStats(data) {
  const summary = $("stats-summary");
  summary.dataset.total = String(data.total);
  summary.textContent = data.total ? `${t("stats_summary", { n: data.total })} ${t("drill_hint")}`
    : t("no_results");
  renderMixed(data);
  const charts = ["chart-distribution", "chart-trend", "chart-heatmap"];
  if (!window.Plotly) return;
  if (!data.total) { for (const id of charts) Plotly.purge($(id)); return; }
  const dist = data.distribution;
  Plotly.react($("chart-distribution"), [{
    type: "bar", x: dist.labels.map(labelName), y: dist.shares, customdata: dist.labels,
    marker: { color: dist.labels.map(colorOf) }, text: dist.counts.map(String),
    textposition: "outside", hovertemplate: "%{x}: %{y:.1f}% (%{text})<extra></extra>",
  }], layout(t("chart_distribution"), {
    yaxis: { title: { text: t("axis_share") }, rangemode: "tozero" },
    xaxis: { title: { text: t("axis_emotion") } },
  }), PLOT_CONFIG);

  const trend = data.trend;
  const ticks = trend.starts.map((s) => bucketName(s, trend.bucket));
  Plotly.react($("chart-trend"), Object.entries(trend.shares).map(([label, ys]) => ({
    type: "scatter", mode: "lines+markers", name: labelName(label), x: ticks, y: ys,
    customdata: trend.starts.map(() => label), line: { color: colorOf(label) }, connectgaps: true,
  })), layout(t("chart_trend", { bucket: t(`bucket_${trend.bucket || "day"}`) }), {
    yaxis: { title: { text: t("axis_share") }, rangemode: "tozero" }, hovermode: "closest",
    xaxis: { type: "category" }, legend: { orientation: "h", y: -0.25 },
    annotations: trend.note ? [{ text: trend.note, showarrow: false, xref: "paper",
      yref: "paper", x: 0.5, y: 0.5 }] : [],
  }), PLOT_CONFIG);

  const heat = data.heatmap;
  const labels = Object.keys(heat.shares);
  Plotly.react($("chart-heatmap"), [{
    type: "heatmap", x: heat.groups.map((g, i) => `${g} (n=${heat.counts[i]})`),
    y: labels.map(labelName), z: labels.map((l) => heat.shares[l]),
    colorscale: [[0, "#f7fbff"], [0.5, "#6baed6"], [1, "#08306b"]],
    zmin: 0, texttemplate: "%{z:.0f}%", hovertemplate: "%{y} · %{x}: %{z:.1f}%<extra></extra>",
  }], layout(t("chart_heatmap"), {
    yaxis: { autorange: "reversed" }, xaxis: { title: { text: t("axis_group") } },
  }), PLOT_CONFIG);
  bindClicks(data);
}

// Two models of one modality score the same items differently and the charts pool them:
// say so, naming each with its rows, as `emolens report` does.
function renderMixed(data) {
  const lines = (data.mixed || []).map((modality) => {
    const models = data.models.filter((m) => m.modality === modality);
    const rows = models.map((m) => `${m.model || "?"} (${m.rows})`).join(", ");
    const n = models.reduce((sum, m) => sum + m.rows, 0);
    return t("mixed_models", { n, modality: modalityName(modality), k: models.length,
      models: rows });
  });
  const warning = $("models-warning");
  warning.textContent = lines.length ? `${lines.join(" ")} ${t("mixed_models_hint")}` : "";
  warning.hidden = lines.length === 0;
}

// Every bucket from the first to the last is in the trend, so categories keep time evenly.
function bucketName(start, bucket) {
  const text = start.replace("T", " ");
  if (bucket === "hour") return `${text.slice(0, 13)}:00`;
  if (bucket === "month") return text.slice(0, 7);
  return text.slice(0, 10);
}

function bindClicks(data) {
  const dist = $("chart-distribution");
  dist.removeAllListeners?.("plotly_click");
  dist.on("plotly_click", (ev) => drill({ label: ev.points[0].customdata }));
  const trend = $("chart-trend");
  trend.removeAllListeners?.("plotly_click");
  trend.on("plotly_click", (ev) => {
    const p = ev.points[0];
    const i = p.pointIndex;
    drill({ label: p.data.customdata[i], since: data.trend.starts[i], until: data.trend.ends[i] });
  });
  const heat = $("chart-heatmap");
  heat.removeAllListeners?.("plotly_click");
  heat.on("plotly_click", (ev) => {
    const p = ev.points[0];
    const label = Object.keys(data.heatmap.shares)[p.pointIndex[0]];
    const group = data.heatmap.groups[p.pointIndex[1]];
    // "(no group)" and "(other)" are not real groups, so they cannot be filtered on.
    drill(group.startsWith("(") ? { label } : { label, group });
  });
}

async function drill(extra) {
  const merged = { ...filters(), ...extra };
  try {
    const page = await (await api(`/v1/results${query({ ...merged, limit: 50 })}`)).json();
    state.drill = { merged, extra, page };
    renderDrill(state.drill);
  } catch (err) {
    showError(err);
  }
}

function renderDrill({ merged, extra, page }) {
  const what = [merged.label && labelName(merged.label), merged.group,
    extra.since && `${extra.since.slice(0, 16)}`].filter(Boolean).join(" · ");
  $("drill-title").textContent = t("drill_title", { what, n: page.total });
  const body = $("drill-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of page.items) {
    const row = document.createElement("tr");
    cell(row, (r.timestamp || r.created_at || "").replace("T", " ").slice(0, 19));
    cell(row, r.source_id);
    cell(row, r.group);
    cell(row, "").appendChild(chip(r.label));
    cell(row, r.text, "text");
    body.appendChild(row);
  }
  $("drill").hidden = false;
}

async function exportCsv() {
  try {
    const response = await api(`/v1/results${query({ ...filters(), format: "csv" })}`);
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = "emolens-results.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) {
    showError(err);
  }
}

function showError(err) {
  $("stats-summary").textContent = t("error", { msg: err.message });
}

// -- start -----------------------------------------------------------------------------------

async function start() {
  state.strings = await (await fetch("/static/i18n.json")).json();
  applyStrings();
  $("lang-toggle").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_STORE, state.lang);
    applyStrings();
  });
  $("key-save").addEventListener("click", saveKey);
  $("key-input").addEventListener("keydown", (e) => { if (e.key === "Enter") saveKey(); });
  $("key-change").addEventListener("click", () => askForKey(""));
  $("analyze-btn").addEventListener("click", analyze);
  $("f-apply").addEventListener("click", loadStats);
  $("export-csv").addEventListener("click", exportCsv);
  if (typeof startMedia === "function") startMedia();
  if (typeof startLive === "function") startLive();
  if (typeof startAlerts === "function") startAlerts();
  try {
    const health = await (await fetch("/healthz")).json();
    state.authOff = health.auth === false;
    showKeyState();
    if (!state.authOff && !state.key) { askForKey(t("key_missing")); return; }
    await loadStats();  // a stale key is refused here, and the key panel shown
    if (typeof loadAlerts === "function") await loadAlerts();
  } catch (err) {
    showError(err);
  }
}

document.addEventListener("DOMContentLoaded", start);

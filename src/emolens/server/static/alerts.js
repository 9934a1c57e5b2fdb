// emolens dashboard: the alerts `emolens watch` fired on this store (GET /v1/alerts), newest
// first, checked again every ALERTS_EVERY_MS while the tab is visible. Uses app.js's helpers
// (state, $, t, api, query, cell, labelName).
"use strict";

const ALERTS_EVERY_MS = 15000;
const ALERTS_SHOWN = 50;
const alerts = { page: null, error: null, busy: false };

function startAlerts() {
  setInterval(() => { if (!document.hidden) loadAlerts(); }, ALERTS_EVERY_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) loadAlerts(); });
}

async function loadAlerts() {
  // Not before the page knows it may call /v1, nor while it is asking for a key.
  if (alerts.busy || !$("key-panel").hidden || (!state.authOff && !state.key)) return;
  alerts.busy = true;
  try {
    alerts.page = await (await api(`/v1/alerts${query({ limit: ALERTS_SHOWN })}`)).json();
    alerts.error = null;
  } catch (err) {
    alerts.error = err.message;  // a 401 also shows the key panel (api)
  } finally {
    alerts.busy = false;
  }
  renderAlerts();
}

function pct(share) {
  return (100 * share).toFixed(0);
}

function renderAlerts() {
  const page = alerts.page;
  const status = $("alerts-status");
  status.classList.toggle("error", Boolean(alerts.error));
  status.textContent = alerts.error ? t("error", { msg: alerts.error })
    : page && page.total ? t("alerts_summary", { n: page.items.length, total: page.total,
      seconds: ALERTS_EVERY_MS / 1000 }) : "";
  $("alerts-empty").hidden = !page || page.total !== 0;
  $("alerts-table").hidden = !page || page.items.length === 0;
  const body = $("alerts-table").querySelector("tbody");
  body.replaceChildren();
  for (const a of (page ? page.items : [])) {
    const row = document.createElement("tr");
    row.className = "alert-row";
    row.dataset.rule = a.rule;
    cell(row, `${a.created_at.replace("T", " ").slice(0, 19)}`);
    cell(row, a.rule);
    const what = cell(row, "");
    const figures = document.createElement("div");
    figures.className = "alert-figures";
    figures.textContent = t("alert_figures", { label: labelName(a.label), share: pct(a.share),
      items: a.items }) + (a.baseline === null ? "" : t("alert_baseline",
      { baseline: pct(a.baseline) }));
    const message = document.createElement("div");
    message.className = "alert-message muted";
    message.textContent = a.message;
    what.append(figures, message);
    const sent = cell(row, a.delivered.length ? a.delivered.join(", ") : "—", "alert-sent");
    const failed = Object.entries(a.failed);
    if (failed.length) {
      const note = document.createElement("div");
      note.className = "error";
      note.textContent = t("alert_failed", { names: failed.map(([name]) => name).join(", ") });
      note.title = failed.map(([name, why]) => `${name}: ${why}`).join("\n");
      sent.appendChild(note);
    }
    body.appendChild(row);
  }
}

function redrawAlerts() {
  if (alerts.page || alerts.error) renderAlerts();
}

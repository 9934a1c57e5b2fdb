// emolens dashboard: images and videos (shown when the service runs with --vision). An image
// is answered at once; a video becomes a job that is polled until done, then its timeline is
// drawn. Uses app.js's helpers (api, t, labelName, chip, cell, scoreBars, colorOf, layout).
"use strict";

const media = { shown: null, job: null, status: null, url: null };
const POLL_MS = 1000;
const ACTIVE = ["queued", "running"];

function setMediaStatus(name, values = {}) {
  media.status = { name, values };
  $("media-status").textContent = t(name, values);
}

async function startMedia() {
  $("media-btn").addEventListener("click", analyzeMedia);
  $("media-cancel").addEventListener("click", cancelJob);
  try {
    const ready = await (await fetch("/readyz")).json();
    $("media").hidden = !ready.vision;
  } catch (_) { /* not ready yet: the panel stays hidden */ }
}

function redrawMedia() {
  if (media.status) setMediaStatus(media.status.name, media.status.values);
  if (media.shown) renderMedia(media.shown.result, media.shown.kind);
}

async function analyzeMedia() {
  const file = $("media-file").files[0];
  if (!file) { setMediaStatus("media_pick"); return; }
  const kind = file.type.split("/")[0];
  if (kind !== "image" && kind !== "video") {
    setMediaStatus("media_type", { name: file.name });
    return;
  }
  const store = $("media-store").checked;
  const options = { method: "POST", body: file, headers: { "Content-Type": file.type } };
  $("media-btn").disabled = true;
  setMediaStatus("uploading");
  try {
    const path = `/v1/analyze/${kind}${query({ store, filename: file.name })}`;
    const answer = await (await api(path, options)).json();
    if (media.url) URL.revokeObjectURL(media.url);
    media.url = kind === "image" ? URL.createObjectURL(file) : null;
    const result = kind === "image" ? answer : await followJob(answer);
    if (result) {
      media.shown = { result, kind };
      renderMedia(result, kind);
      const s = result.summary;
      setMediaStatus(kind === "image" ? "media_done_image" : "media_done_video", {
        faces: s.faces, people: s.people.length, texts: s.captions,
        duration: result.duration.toFixed(1), stored: result.stored,
      });
      if (store) await loadStats();
    }
  } catch (err) {
    setMediaStatus("error", { msg: err.message });
  } finally {
    $("media-btn").disabled = false;
    $("media-cancel").hidden = true;
    $("media-progress").hidden = true;
    media.job = null;
  }
}

// Poll a job until it ends; its result when done, else null (the status says why).
async function followJob(job) {
  media.job = job.id;
  $("media-cancel").hidden = false;
  const bar = $("media-progress");
  bar.hidden = false;
  while (ACTIVE.includes(job.status)) {
    bar.value = job.progress || 0;
    if (job.status === "queued") setMediaStatus("job_queued");
    else setMediaStatus("job_running", { done: job.progress_seconds.toFixed(1),
      total: job.total_seconds == null ? "?" : job.total_seconds.toFixed(1) });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await (await api(`/v1/jobs/${encodeURIComponent(job.id)}?results=false`)).json();
  }
  if (job.status !== "done") {
    setMediaStatus(job.status === "cancelled" ? "job_cancelled" : "job_failed",
      { msg: job.error || "" });
    return null;
  }
  return (await (await api(`/v1/jobs/${encodeURIComponent(job.id)}`)).json()).result;
}

async function cancelJob() {
  if (!media.job) return;
  try {
    await api(`/v1/jobs/${encodeURIComponent(media.job)}`, { method: "DELETE" });
  } catch (err) {
    setMediaStatus("error", { msg: err.message });
  }
}

function renderMedia(result, kind) {
  $("media-result").hidden = false;
  const overall = $("media-overall");
  overall.replaceChildren();
  const s = result.summary;
  if (s.label) {
    overall.append(t("media_overall"), chip(s.label),
      ` ${(100 * s.scores[s.label]).toFixed(0)}%`);
  } else {
    overall.textContent = t("media_no_overall");
  }
  renderPicture(kind === "image" ? result : null);
  renderTimeline(kind === "video" ? result : null);
  renderFaces(result, kind);
  const list = $("captions-list");
  list.replaceChildren();
  for (const c of result.captions) {
    const item = document.createElement("li");
    const when = c.t_start == null ? "" : `${c.t_start.toFixed(1)}–${c.t_end.toFixed(1)} s  `;
    item.append(when, chip(c.label), ` ${c.text}`);
    list.appendChild(item);
  }
  if (!result.captions.length) list.textContent = t("no_captions");
  $("media-notes").textContent = result.notes.length
    ? t("notes", { notes: result.notes.join("; ") }) : "";
}

// The image with a labelled box on each face (boxes are in the analysed image's pixels).
function renderPicture(result) {
  const box = $("media-picture");
  box.replaceChildren();
  box.hidden = !result || !media.url;
  if (box.hidden) return;
  const img = new Image();
  img.alt = "";
  img.onload = () => {
    const analysed = Math.min(1, 1920 / Math.max(img.naturalWidth, img.naturalHeight));
    const scale = img.clientWidth / (img.naturalWidth * analysed);
    result.faces.forEach((f, i) => {
      const [x0, y0, x1, y1] = f.details.box;
      const mark = document.createElement("div");
      mark.className = "face-box";
      Object.assign(mark.style, { left: `${x0 * scale}px`, top: `${y0 * scale}px`,
        width: `${(x1 - x0) * scale}px`, height: `${(y1 - y0) * scale}px`,
        borderColor: colorOf(f.label) });
      const tag = chip(f.label);
      tag.textContent = `${i + 1} ${labelName(f.label)}`;
      mark.appendChild(tag);
      box.appendChild(mark);
    });
  };
  img.src = media.url;
  box.appendChild(img);
}

// A video's fused windows as stacked shares per emotion over time.
function renderTimeline(result) {
  const chart = $("chart-timeline");
  chart.hidden = !result;
  if (!result || !window.Plotly) return;
  const windows = result.fused;
  const labels = windows.length ? Object.keys(windows[0].scores) : [];
  Plotly.react(chart, labels.map((label) => ({
    type: "scatter", mode: "lines", stackgroup: "one", name: labelName(label),
    x: windows.map((w) => w.t_start), y: windows.map((w) => 100 * w.scores[label]),
    line: { color: colorOf(label), width: 0.5 }, fillcolor: colorOf(label),
    hovertemplate: `${labelName(label)} %{x:.1f} s: %{y:.0f}%<extra></extra>`,
  })), layout(t("chart_timeline"), {
    xaxis: { title: { text: t("axis_time") } },
    yaxis: { title: { text: t("axis_share") }, range: [0, 100] },
    legend: { orientation: "h", y: -0.25 },
  }), PLOT_CONFIG);
}

// One row per face of an image, or per person (face track) of a video.
function renderFaces(result, kind) {
  const body = $("faces-table").querySelector("tbody");
  body.replaceChildren();
  for (const p of result.summary.people) {
    const row = document.createElement("tr");
    row.className = "face-row";
    row.dataset.label = p.label;
    cell(row, t(kind === "image" ? "face_n" : "person", { n: p.person }));
    cell(row, kind === "image" ? "" : `${p.first_t.toFixed(1)}–${p.last_t.toFixed(1)} s`);
    cell(row, "").appendChild(chip(p.label));
    cell(row, "").appendChild(scoreBars(p.scores));
    body.appendChild(row);
  }
  $("faces-table").hidden = result.summary.people.length === 0;
}

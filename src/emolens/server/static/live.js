// emolens dashboard: live mode, what the microphone (live-mic.js) and the camera (live-cam.js)
// share: the panel's status lines, the checks before asking for a device (a secure page, a
// service that runs --audio / --vision, the browser's permission), the sockets and their close
// reasons, and stopping. Nothing from live mode is stored. Uses app.js's helpers (state, $, t,
// labelName, chip, colorOf).
"use strict";

const STOP_WAIT_MS = 120000;              // after "end", how long to wait for the summary

const live = {
  served: { speech: null, vision: null },  // from /readyz; null: not known
  mic: null,
  cam: null,
  status: { mic: null, cam: null },
  utterances: [],      // segment results, oldest first
  people: new Map(),   // track id -> [{label, p} | null] per answered frame, oldest first
  reply: null,         // the last video reply, for the overlay
};

// The reason a live stream was closed, for the codes the service uses (ws.py, ws_video.py).
const CLOSE_NAMES = {
  1003: "close_1003", 1006: "close_1006", 1007: "close_1007", 1008: "close_1008",
  1009: "close_1009", 1011: "close_1011", 1013: "close_1013", 4401: "close_4401",
};

// A status is kept as a string name and values, so a language switch redraws it; a value
// {i18n: name} is itself a string name, translated when drawn.
function setLive(which, name, values = {}, error = false) {
  live.status[which] = { name, values, error };
  const shown = Object.fromEntries(Object.entries(values).map(([k, v]) =>
    [k, v && v.i18n ? t(v.i18n) : v]));
  const line = $(`${which}-status`);
  line.textContent = t(name, shown);
  line.classList.toggle("error", error);
}

function redrawLive() {
  for (const which of ["mic", "cam"]) {
    const s = live.status[which];
    if (s) setLive(which, s.name, s.values, s.error);
  }
  renderUtterances();
  renderOverlay();
  renderPeople();
}

async function startLive() {
  $("mic-start").addEventListener("click", startMic);
  $("mic-stop").addEventListener("click", stopMic);
  $("cam-start").addEventListener("click", startCam);
  $("cam-stop").addEventListener("click", stopCam);
  const problem = mediaProblem();
  if (problem) {
    setLive("mic", problem, { origin: location.origin }, true);
    setLive("cam", problem, { origin: location.origin }, true);
  }
  try {
    const ready = await (await fetch("/readyz")).json();
    live.served = { speech: Boolean(ready.speech), vision: Boolean(ready.vision) };
  } catch (_) { return; }  // not known: the stream's close reason will say
  if (!problem && !live.served.speech) setLive("mic", "live_no_audio", {}, true);
  if (!problem && !live.served.vision) setLive("cam", "live_no_vision", {}, true);
}

// getUserMedia exists only in a secure context: https, or http on localhost / 127.0.0.1.
function mediaProblem() {
  if (!window.isSecureContext) return "live_insecure";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return "live_no_media";
  return null;
}

function permissionProblem(err) {
  if (err.name === "NotAllowedError" || err.name === "SecurityError") return "live_denied";
  if (err.name === "NotFoundError" || err.name === "OverconstrainedError") return "live_no_device";
  if (err.name === "NotReadableError" || err.name === "AbortError") return "live_device_busy";
  return "live_media_error";
}

// A browser cannot set headers on a WebSocket: the key goes as a subprotocol (see ws.py).
function openSocket(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const protocols = state.key && !state.authOff ? ["emolens", `emolens.key.${state.key}`] : [];
  const ws = new WebSocket(`${scheme}//${location.host}${path}`, protocols);
  ws.binaryType = "arraybuffer";
  return ws;
}

// Ask for a device; null (and the status says why) when it cannot be had.
async function askFor(which, constraints) {
  const problem = mediaProblem();
  if (problem) { setLive(which, problem, { origin: location.origin }, true); return null; }
  const served = which === "mic" ? live.served.speech : live.served.vision;
  if (served === false) {
    setLive(which, which === "mic" ? "live_no_audio" : "live_no_vision", {}, true);
    return null;
  }
  const device = { i18n: which === "mic" ? "live_microphone" : "live_camera" };
  setLive(which, "live_asking", { device });
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    setLive(which, permissionProblem(err), { device, msg: err.message || err.name }, true);
    return null;
  }
}

function buttons(which, running) {
  $(`${which}-start`).disabled = running;
  $(`${which}-stop`).disabled = !running;
}

// The server closed the stream (or the connection dropped): say why unless it was the end.
function closed(which, session, ev) {
  release(session);
  if (live[which] === session) { live[which] = null; buttons(which, false); }
  if (which === "cam") clearOverlay();
  if (session.failed || (ev.code === 1000 && session.done)) return;  // its status stays
  if (session.gaveUp) {
    setLive(which, "live_gave_up", { seconds: STOP_WAIT_MS / 1000 }, true);
    return;
  }
  if (ev.code === 1000 || (session.stopping && ev.code === 1005)) {
    setLive(which, "live_stopped");
    return;
  }
  let name = CLOSE_NAMES[ev.code] || "close_other";
  if (ev.code === 4404) name = which === "mic" ? "live_no_audio" : "live_no_vision";
  setLive(which, "live_closed", { why: { i18n: name }, code: ev.code,
    reason: ev.reason || "—" }, true);
  if (ev.code === 4401 && typeof askForKey === "function") {
    askForKey(state.key ? t("key_rejected") : t("key_missing"));
  }
}

function release(session) {
  if (session.released) return;
  session.released = true;
  clearTimeout(session.timer);
  clearTimeout(session.giveUp);
  for (const track of session.stream.getTracks()) track.stop();
  if (session.ctx) session.ctx.close().catch(() => {});
}

// Send {"end": true} and wait for the summary (the server then closes with 1000).
function finish(which, session) {
  if (!session || session.stopping) return;
  session.stopping = true;
  $(`${which}-stop`).disabled = true;
  for (const track of session.stream.getTracks()) track.stop();
  if (session.ctx) session.ctx.suspend().catch(() => {});
  if (session.ws.readyState === WebSocket.OPEN) {
    session.ws.send(JSON.stringify({ end: true }));
    setLive(which, "live_finishing");
    session.giveUp = setTimeout(() => { session.gaveUp = true; session.ws.close(); },
      STOP_WAIT_MS);
  } else {
    session.ws.close();
  }
}

function confidence(result) {
  return result.scores[result.label] ?? Math.max(...Object.values(result.scores));
}

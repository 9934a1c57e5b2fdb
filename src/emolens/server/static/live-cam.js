// emolens dashboard, live mode: the camera. Its preview is drawn to a canvas every ~200 ms
// and sent to /v1/stream/video as a JPEG; each face the server finds is boxed on the preview
// with its person number, and each person gets a strip of their last expressions. Fewer frames
// are sent while the server drops them (back-pressure). Uses live.js.
"use strict";

const FRAME_MS = 200;                     // camera frame interval when the server keeps up
const MAX_FRAME_MS = 1000;                // ... and the slowest it backs off to
const FRAME_SIDE = 640;                   // frames are scaled down to this longest side
const FRAMES_AHEAD = 2;                   // frames sent but not yet answered, at most
const STRIP_FRAMES = 60;                  // frames in a person's expression strip

async function startCam() {
  if (live.cam) return;
  buttons("cam", true);
  const stream = await askFor("cam", { audio: false,
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } } });
  if (!stream) { buttons("cam", false); return; }
  let ws;
  try {
    ws = openSocket("/v1/stream/video");
  } catch (err) {
    for (const track of stream.getTracks()) track.stop();
    setLive("cam", "error", { msg: err.message }, true);
    buttons("cam", false);
    return;
  }
  const cam = { ws, stream, seq: 0, sentAt: new Map(), answered: 0, dropped: 0, skipped: 0,
    interval: FRAME_MS, latency: 0, stopping: false, began: performance.now(),
    canvas: document.createElement("canvas") };
  live.cam = cam;
  live.people.clear();
  renderPeople();
  const video = $("cam-video");
  video.srcObject = stream;
  $("cam-view").hidden = false;
  ws.onmessage = (ev) => onVideoMessage(cam, JSON.parse(ev.data));
  ws.onclose = (ev) => closed("cam", cam, ev);
  try {
    await video.play();
  } catch (_) { /* autoplay refused: frames are still drawn from the stream */ }
}

function onVideoMessage(cam, msg) {
  if (msg.type === "start") {
    setLive("cam", "live_watching", camValues(cam));
    captureFrame(cam);
  } else if (msg.type === "frame") {
    onFrame(cam, msg);
  } else if (msg.type === "summary") {
    cam.done = true;
    setLive("cam", "live_cam_done", { frames: msg.frames, dropped: msg.dropped,
      people: msg.tracks.length });
  }
}

// Draw the preview to a canvas and send it as a JPEG, unless FRAMES_AHEAD frames are still
// unanswered: then this tick is skipped (and counted), so frames do not pile up anywhere.
function captureFrame(cam) {
  if (cam.stopping || cam.released) return;
  cam.timer = setTimeout(() => captureFrame(cam), cam.interval);
  const video = $("cam-video");
  if (cam.ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  if (cam.sentAt.size >= FRAMES_AHEAD || cam.ws.bufferedAmount > 0) { cam.skipped += 1; return; }
  const scale = Math.min(1, FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const canvas = cam.canvas;
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  cam.sentAt.set(-1, 0);  // holds a place while the JPEG is encoded
  canvas.toBlob((blob) => {
    cam.sentAt.delete(-1);
    if (!blob || cam.stopping || cam.ws.readyState !== WebSocket.OPEN) return;
    cam.seq += 1;
    const now = performance.now();
    cam.ws.send(JSON.stringify({ t: Math.round(now - cam.began) / 1000, id: cam.seq }));
    cam.ws.send(blob);
    cam.sentAt.set(cam.seq, now);
  }, "image/jpeg", 0.8);
}

function onFrame(cam, msg) {
  const sent = cam.sentAt.get(msg.id);
  if (sent !== undefined) cam.latency = performance.now() - sent;
  cam.sentAt.delete(msg.id);
  for (const seq of msg.dropped) cam.sentAt.delete(seq);
  cam.answered += 1;
  cam.dropped += msg.dropped.length;
  // The server dropped frames: it cannot keep up, so send fewer; speed up again when it can.
  cam.interval = msg.dropped.length ? Math.min(MAX_FRAME_MS, cam.interval * 1.5)
    : Math.max(FRAME_MS, cam.interval - 20);
  live.reply = msg;
  rememberFaces(msg.faces);
  renderOverlay();
  renderPeople();
  if (!cam.stopping) setLive("cam", "live_watching", camValues(cam));
}

function camValues(cam) {
  return { frames: cam.answered, ms: Math.round(cam.latency), dropped: cam.dropped,
    skipped: cam.skipped, fps: (1000 / cam.interval).toFixed(1) };
}

function stopCam() { finish("cam", live.cam); }

function rememberFaces(faces) {
  const seen = new Map(faces.map((f) => [f.details.track, f]));
  for (const track of seen.keys()) if (!live.people.has(track)) live.people.set(track, []);
  for (const [track, strip] of live.people) {
    const f = seen.get(track);
    strip.push(f ? { label: f.label, p: confidence(f) } : null);
    if (strip.length > STRIP_FRAMES) strip.shift();
    if (strip.every((x) => x === null)) live.people.delete(track);  // gone for a whole strip
  }
}

function faceName(f) {
  return t("live_face", { n: f.details.track, label: labelName(f.label),
    pct: (100 * confidence(f)).toFixed(0) });
}

// Boxes are in the analysed frame's pixels: scale them to the preview's size.
function renderOverlay() {
  const overlay = $("cam-overlay");
  overlay.replaceChildren();
  const msg = live.reply;
  if (!msg || !live.cam) return;
  const scale = $("cam-video").clientWidth / msg.width;
  for (const f of msg.faces) {
    const [x0, y0, x1, y1] = f.details.box;
    const box = document.createElement("div");
    box.className = "face-box live-box";
    box.dataset.label = f.label;
    Object.assign(box.style, { left: `${x0 * scale}px`, top: `${y0 * scale}px`,
      width: `${(x1 - x0) * scale}px`, height: `${(y1 - y0) * scale}px`,
      borderColor: colorOf(f.label) });
    const tag = chip(f.label);
    tag.textContent = faceName(f);
    box.appendChild(tag);
    overlay.appendChild(box);
  }
}

function clearOverlay() {
  live.reply = null;
  $("cam-overlay").replaceChildren();
  $("cam-video").srcObject = null;
  $("cam-view").hidden = true;
}

// One row per person: a strip of their last frames (colour: expression; height: its score).
function renderPeople() {
  const box = $("cam-people");
  box.replaceChildren();
  for (const [track, strip] of [...live.people].sort((a, b) => a[0] - b[0])) {
    const row = document.createElement("div");
    row.className = "person-strip";
    const name = document.createElement("span");
    name.textContent = t("person", { n: track });
    const canvas = document.createElement("canvas");
    canvas.width = STRIP_FRAMES * 5;
    canvas.height = 20;
    const g = canvas.getContext("2d");
    strip.forEach((x, i) => {
      if (!x) return;
      g.fillStyle = colorOf(x.label);
      const h = Math.max(2, x.p * canvas.height);
      g.fillRect(i * 5, canvas.height - h, 4, h);
    });
    row.append(name, canvas);
    const last = [...strip].reverse().find(Boolean);
    if (last) row.append(chip(last.label), ` ${(100 * last.p).toFixed(0)}%`);
    box.appendChild(row);
  }
}

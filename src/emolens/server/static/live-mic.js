// emolens dashboard, live mode: the microphone. An AudioWorklet (pcm-worklet.js; a
// ScriptProcessor where there is none) taps it, this page downsamples to 16 kHz PCM16 and sends
// it to /v1/stream/audio; each utterance's transcript and emotion are listed as the server
// sends them, newest first, and the last ones drawn as a rolling chart. A server too far behind
// skips audio and says so ({"type": "skipped"}): the status line counts it. Uses live.js.
"use strict";

const LIVE_RATE = 16000;                  // what the page sends, in Hz
const MAX_AUDIO_QUEUED = 30 * LIVE_RATE * 2;  // bytes: 30 s of audio waiting to go out at most
const CHART_UTTERANCES = 20;              // utterances in the rolling chart

// Each output sample is the mean of the input samples in its span (a box filter: crude, but it
// keeps most aliasing out of speech from 44.1 or 48 kHz), as 16-bit integers.
class Downsampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate;
    this.next = this.step;
    this.pos = 0;
    this.sum = 0;
    this.count = 0;
    this.last = 0;
  }

  push(input) {
    const out = new Int16Array(Math.ceil(input.length / this.step) + 2);
    let n = 0;
    for (let i = 0; i < input.length; i++) {
      this.sum += input[i];
      this.count += 1;
      this.pos += 1;
      while (this.pos >= this.next) {
        if (this.count) { this.last = this.sum / this.count; this.sum = 0; this.count = 0; }
        out[n++] = Math.max(-32768, Math.min(32767, Math.round(this.last * 32767)));
        this.next += this.step;
      }
    }
    this.next -= this.pos;  // keep both small: no drift over a long stream
    this.pos = 0;
    return out.subarray(0, n);
  }
}

async function startMic() {
  if (live.mic) return;
  buttons("mic", true);
  const stream = await askFor("mic", { audio: { channelCount: 1, echoCancellation: true,
    noiseSuppression: true, autoGainControl: true }, video: false });
  if (!stream) { buttons("mic", false); return; }
  const lang = $("mic-lang").value;
  let ws;
  try {
    ws = openSocket(`/v1/stream/audio?sample_rate=${LIVE_RATE}${lang ? `&language=${lang}` : ""}`);
  } catch (err) {  // a key with characters a subprotocol cannot hold
    for (const track of stream.getTracks()) track.stop();
    setLive("mic", "error", { msg: err.message }, true);
    buttons("mic", false);
    return;
  }
  const mic = { ws, stream, ctx: null, sent: 0, dropped: 0, skipped: 0, segments: 0,
    stopping: false };
  live.mic = mic;
  ws.onmessage = (ev) => onAudioMessage(mic, JSON.parse(ev.data));
  ws.onclose = (ev) => closed("mic", mic, ev);
  try {
    await tapMicrophone(mic);
  } catch (err) {
    if (mic.released) return;  // the server closed the stream first: its reason stays
    setLive("mic", "live_media_error", { device: { i18n: "live_microphone" },
      msg: err.message }, true);
    mic.failed = true;
    ws.close();
  }
}

async function tapMicrophone(mic) {
  const ctx = new AudioContext();
  mic.ctx = ctx;
  const resampler = new Downsampler(ctx.sampleRate, LIVE_RATE);
  const source = ctx.createMediaStreamSource(mic.stream);
  const mute = ctx.createGain();  // the tap must reach the destination to run; silently
  mute.gain.value = 0;
  mute.connect(ctx.destination);
  const onSamples = (samples) => sendAudio(mic, samples, resampler.push(samples));
  if (ctx.audioWorklet && typeof AudioWorkletNode === "function") {
    await ctx.audioWorklet.addModule("/static/pcm-worklet.js");
    const node = new AudioWorkletNode(ctx, "emolens-pcm-tap", { numberOfInputs: 1,
      numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit" });
    node.port.onmessage = (ev) => onSamples(ev.data);
    source.connect(node).connect(mute);
  } else {
    const node = ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (ev) => onSamples(ev.inputBuffer.getChannelData(0).slice());
    source.connect(node).connect(mute);
  }
  await ctx.resume();
}

function sendAudio(mic, samples, pcm) {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
  $("mic-level").value = Math.min(1, peak);
  if (mic.stopping || mic.ws.readyState !== WebSocket.OPEN || !pcm.length) return;
  // The server always reads (it skips audio itself when its analysis is too far behind); audio
  // waits here only while the network is slow, up to 30 s of it; beyond, it is dropped and
  // counted.
  if (mic.ws.bufferedAmount > MAX_AUDIO_QUEUED) { mic.dropped += pcm.length; return; }
  mic.ws.send(pcm);
  mic.sent += pcm.length;
}

function onAudioMessage(mic, msg) {
  if (msg.type === "start") {
    mic.timer = setInterval(() => micProgress(mic), 500);
    setLive("mic", "live_listening", { seconds: "0.0", n: 0 });
  } else if (msg.type === "segment") {
    mic.segments += 1;
    live.utterances.push(msg.result);
    if (live.utterances.length > 200) live.utterances.shift();
    renderUtterances();
    if (!mic.stopping) micProgress(mic);
  } else if (msg.type === "skipped") {  // seconds the server left out to catch up, in all
    mic.skipped = msg.total_seconds;
    if (!mic.stopping) micProgress(mic);
  } else if (msg.type === "summary") {
    mic.done = true;
    clearInterval(mic.timer);
    setLive("mic", "live_mic_done", { n: msg.summary.segments,
      seconds: msg.summary.duration.toFixed(1) });
  }
}

function micProgress(mic) {
  if (mic.stopping || mic.released) { clearInterval(mic.timer); return; }
  const waiting = mic.ws.bufferedAmount / 2 / LIVE_RATE;
  const values = { seconds: (mic.sent / LIVE_RATE).toFixed(1), n: mic.segments };
  let name = "live_listening";
  if (mic.dropped || mic.skipped) {  // left out here (slow network) or by the server (busy)
    name = "live_listening_dropped";
    values.dropped = (mic.dropped / LIVE_RATE + mic.skipped).toFixed(1);
  } else if (waiting > 1) {
    name = "live_listening_behind";
    values.behind = waiting.toFixed(1);
  }
  setLive("mic", name, values);
}

function stopMic() { finish("mic", live.mic); }

function renderUtterances() {
  const list = $("utterances");
  list.replaceChildren();
  for (const r of [...live.utterances].reverse()) {
    const item = document.createElement("li");
    item.className = "utterance";
    item.dataset.label = r.label;
    const when = document.createElement("span");
    when.className = "muted";
    when.textContent = r.t_start == null ? "" : `${r.t_start.toFixed(1)}–${r.t_end.toFixed(1)} s`;
    const words = document.createElement("span");
    words.className = "transcript";
    words.textContent = r.text || t("live_no_words");
    item.append(when, " ", chip(r.label), ` ${(100 * confidence(r)).toFixed(0)}% `, words);
    list.appendChild(item);
  }
  drawMicChart();
}

// The last utterances as stacked columns of their scores, oldest on the left.
function drawMicChart() {
  const canvas = $("mic-chart");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const shown = live.utterances.slice(-CHART_UTTERANCES);
  canvas.hidden = shown.length === 0;
  const width = canvas.width / CHART_UTTERANCES;
  shown.forEach((r, i) => {
    let y = canvas.height;
    for (const [label, p] of Object.entries(r.scores).sort((a, b) => b[1] - a[1])) {
      const h = p * canvas.height;
      g.fillStyle = colorOf(label);
      g.fillRect(i * width + 1, y - h, width - 2, h);
      y -= h;
    }
  });
}

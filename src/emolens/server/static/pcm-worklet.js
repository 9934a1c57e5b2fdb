// emolens live microphone: an AudioWorklet that hands the page the first channel's samples in
// blocks of about 85 ms (4096 frames), so the page is not woken 375 times a second. The page
// (live.js) downsamples them to 16 kHz PCM16 and sends them to /v1/stream/audio.
"use strict";

const BLOCK = 4096;

class PcmTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Float32Array(BLOCK);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;  // no input yet (the stream is starting): keep running
    let offset = 0;
    while (offset < channel.length) {
      const n = Math.min(channel.length - offset, BLOCK - this.filled);
      this.buffer.set(channel.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === BLOCK) {
        this.port.postMessage(this.buffer, [this.buffer.buffer]);
        this.buffer = new Float32Array(BLOCK);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("emolens-pcm-tap", PcmTap);

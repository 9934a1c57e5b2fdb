"""Telling narrow-band audio (a telephone line, an 8 kHz recording) from wide-band audio.

Everything downstream works at 16 kHz, so an 8 kHz recording arrives resampled, with nothing
above 4 kHz. Silero VAD and the voice model's acoustic statistics were built on wide-band
speech and read that empty band as "less speech-like" and "a different voice": the check here
lets them adapt. It looks at the signal, not the container's rate, so telephone audio stored
at 16 or 44.1 kHz is caught too.

Measured on all 1,440 RAVDESS clips (16 kHz) and the same clips through 8 kHz: the energy of
4.6-6 kHz relative to 2.4-3.2 kHz is -22 dB or more on every wide-band clip (median -3 dB)
and -44 dB or less on every narrow-band one (median -58 dB; 8 kHz WAVs decoded by PyAV:
-64 to -77 dB); NARROW_DB sits between.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 512
# Energy every telephone channel passes (300-3400 Hz), and energy none can carry: above an
# 8 kHz recording's Nyquist frequency and clear of its resampler's transition band.
PASS_BAND = (2400.0, 3200.0)
STOP_BAND = (4600.0, 6000.0)
NARROW_DB = -32.0
# Pass-band energy (squared FFT magnitudes of Hann-windowed frames, summed) under which there
# is nothing to judge: two frames of -50 dBFS white noise; 16-bit dither takes minutes to reach
# it, a quiet RAVDESS utterance (1.4 over the clip) a fraction of a word.
MIN_PASS_ENERGY = 0.01

_WINDOW = np.hanning(FRAME)


def _bins(band: tuple[float, float]) -> np.ndarray:
    low, high = band
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    return (freqs >= low) & (freqs < high)


_PASS, _STOP = _bins(PASS_BAND), _bins(STOP_BAND)


def band_energies(audio: np.ndarray) -> tuple[float, float]:
    """Energy of ``audio`` (16 kHz mono) in PASS_BAND and in STOP_BAND, over whole frames."""
    audio = np.asarray(audio, np.float64).reshape(-1)
    whole = audio.size // FRAME * FRAME
    if whole == 0:
        return 0.0, 0.0
    power = np.abs(np.fft.rfft(audio[:whole].reshape(-1, FRAME) * _WINDOW, axis=1)) ** 2
    return float(power[:, _PASS].sum()), float(power[:, _STOP].sum())


def narrow_band(pass_energy: float, stop_energy: float) -> bool | None:
    """True when the stop band is NARROW_DB or more below the pass band; None when the pass
    band is too quiet to tell (silence), so callers keep their wide-band defaults."""
    if pass_energy < MIN_PASS_ENERGY:
        return None
    return bool(10 * np.log10(stop_energy / pass_energy + 1e-30) < NARROW_DB)


def is_narrow_band(audio: np.ndarray) -> bool:
    """Whether ``audio`` (16 kHz mono) carries no speech energy above ~4 kHz (False if silent)."""
    return bool(narrow_band(*band_energies(audio)))


class BandwidthMeter:
    """Running verdict over a stream of blocks of any size: energy-weighted, so the speech
    decides, not the pauses; the verdict settles as speech accumulates."""

    def __init__(self) -> None:
        self.pass_energy = 0.0
        self.stop_energy = 0.0
        self._leftover = np.zeros(0, np.float32)  # a partial frame waits for the next block

    def __call__(self, block: np.ndarray) -> bool | None:
        """Add ``block``; the verdict over everything seen so far (None: nothing to judge yet)."""
        audio = np.concatenate([self._leftover, np.asarray(block, np.float32).reshape(-1)])
        whole = audio.size // FRAME * FRAME
        self._leftover = audio[whole:]
        pass_energy, stop_energy = band_energies(audio[:whole])
        self.pass_energy += pass_energy
        self.stop_energy += stop_energy
        return narrow_band(self.pass_energy, self.stop_energy)

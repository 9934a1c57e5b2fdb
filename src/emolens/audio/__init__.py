"""Speech: decoding, voice-activity segmentation, transcription and voice emotion.

Needs the ``audio`` extra (faster-whisper, av, soundfile, librosa).
"""

"""Images and video: face expression (and later other visual recognizers)."""

"""Text recognition: language detection, recognizers (one file per model) and their registry."""

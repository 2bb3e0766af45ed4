"""Text helpers shared by the heuristic filters: words (`words.py`) and per-document languages (`langs.py`)."""

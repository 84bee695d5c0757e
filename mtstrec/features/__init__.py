"""Item feature extraction: image style, image and text embeddings, text views, price.

Hugging Face libraries read these flags when they are first imported; setting them here,
before any encoder is built, keeps every model load local (nothing is downloaded).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

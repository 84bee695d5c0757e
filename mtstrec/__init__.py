"""MTSTRec: the Multimodal Time-Aligned Shared Token Recommender, as a library."""

__version__ = "0.1.0"

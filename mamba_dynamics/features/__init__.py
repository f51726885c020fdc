"""Selective SSM + two-layer MLP filtering relevant features (arXiv 2602.12499); see docs/features.md."""

"""Test-time feature learning of single-index targets by a gated Mamba readout (Oh, Huang, Suzuki,
arXiv 2510.12026): links and exponents, data and embedding, model, two-stage pretraining, baselines, experiments.
See docs/single_index.md for the completed spec and every choice made."""

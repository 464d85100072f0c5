"""Analyses of pretrained encoders (attention distance, CKA, head diversity, spectra,
reconstructions, k-NN); the command-line tools are in tools/analysis/."""

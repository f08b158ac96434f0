"""What the pipeline reports: summary.md, plots, the ablation, the learning curve, `make bench`."""

"""Training: device and precision, checkpoints, the training loop."""

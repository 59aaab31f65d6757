"""Training for OASIS Studio: datasets, the OASIS objective, the trainer and the `oasis-train` command."""

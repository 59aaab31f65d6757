"""The error of a training run, shared by the trainer, its checkpoints and export."""


class TrainingError(RuntimeError):
    """A run that cannot start or continue, with the reason."""

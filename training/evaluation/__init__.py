"""`oasis-eval`: the OASIS paper's quality measures for a model on a dataset split.

FID/KID (Inception-v3 weights from a file), mIoU by a judge segmenter (trained here on the real data with
``oasis-eval train-judge``, or user-supplied), MS-SSIM diversity over noise variations, and per-class
LAB-colour / LBP-texture histogram distances. See :mod:`.cli` for the command line, :mod:`.protocol` for
what a measure is and :mod:`.measures` for the measures.
"""

from .evaluate import EvalError, EvalOptions, Evaluation, evaluate
from .judge import Judge, JudgeConfig, JudgeError, JudgeNet, load_judge, train_judge
from .report import write_report

__all__ = [
    "EvalError",
    "EvalOptions",
    "Evaluation",
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "JudgeNet",
    "evaluate",
    "load_judge",
    "train_judge",
    "write_report",
]

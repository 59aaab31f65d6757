"""Check our ESPNet re-implementation against the published CamVid figures (../shared/datasets/README.md).

Scores the real CamVid val photos with the ``espnet-camvid:`` judge, loaded as ``oasis-eval`` loads it:
void (id 11) ignored in the ground truth, one confusion matrix over the split, each photo as it is
(480x360) and after a bilinear round trip through 256x192 and 128x96 (PIL, as the reference figures).

It must give mIoU 69.91 / 69.42 / 59.84 within 0.15: the argmax over all 12 outputs, void included (a void
prediction counts as a miss of the pixel's true class), as the published pipeline does.

    python benchmarks/check_espnet_judge.py [--camvid ../shared/datasets/camvid] [--weights PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from training.evaluation.espnet import CAMVID_CLASS_NAMES, CAMVID_VOID_ID
from training.evaluation.judge import load_judge
from training.evaluation.metrics import confusion_matrix, iou_from_confusion

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE = {None: 69.91, (256, 192): 69.42, (128, 96): 59.84}  # mIoU x 100, argmax over the 12 outputs
TOLERANCE = 0.15


def round_trip(image: Image.Image, size: tuple[int, int] | None) -> np.ndarray:
    """The photo resized to ``size`` (W, H) and back, bilinear; unchanged for None."""
    if size is not None:
        image = image.resize(size, Image.Resampling.BILINEAR).resize(image.size, Image.Resampling.BILINEAR)
    return np.array(image)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--camvid", type=Path, default=SHARED / "datasets" / "camvid")
    p.add_argument("--weights", type=Path, default=SHARED / "weights" / "espnet-camvid" / "espnet_p_2_q_8_camvid.pth")
    args = p.parse_args()

    judge, warnings = load_judge(f"espnet-camvid:{args.weights}", 12, CAMVID_VOID_ID, CAMVID_CLASS_NAMES)
    assert not warnings, warnings
    photos = sorted((args.camvid / "val" / "images").glob("*.jpg"))
    if not photos:
        print(f"no photos in {args.camvid / 'val' / 'images'}", file=sys.stderr)
        return 2
    n = len(CAMVID_CLASS_NAMES)
    cms = {size: np.zeros((n, n), np.int64) for size in REFERENCE}
    for path in photos:
        labels = np.array(Image.open(args.camvid / "val" / "labels" / f"{path.stem}.png"))
        photo = Image.open(path).convert("RGB")
        for size in REFERENCE:
            cms[size] += confusion_matrix(judge.predict(round_trip(photo, size)[None]), labels[None], n, CAMVID_VOID_ID)

    print(f"ESPNet p=2 q=8 CamVid judge, {len(photos)} val photos, mIoU x 100 (void ignored, one confusion matrix)")
    print(f"{'input':<22} {'judge':>8} {'reference':>10}")
    ok = True
    for size, ref in REFERENCE.items():
        miou = iou_from_confusion(cms[size], [CAMVID_VOID_ID]).miou * 100
        ok &= abs(miou - ref) <= TOLERANCE
        label = "480x360" if size is None else f"via {size[0]}x{size[1]} bilinear"
        print(f"{label:<22} {miou:>8.2f} {ref:>10.2f}")
    print("the judge matches the reference" if ok else f"MISMATCH: more than {TOLERANCE} from the reference")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

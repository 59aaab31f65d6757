"""The files of an evaluation: ``metrics.json``, ``report.md`` and ``contact_sheet.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = ["contact_sheet", "markdown_report", "write_report"]


def markdown_report(ev: Evaluation) -> str:
    run = ev.run
    h, w = run.size
    out = [
        f"# OASIS evaluation: {run.model_name or Path(run.model_path).name}",
        "",
        f"- Model: `{run.model_path}` ({h}x{w}, {run.label_nc} label channels)",
        (
            f"- Data: {run.dataset} `{run.dataroot}`, split `{run.split}`: {run.layouts} layouts x "
            f"{run.variations} generated variation(s); noise seeds: {run.noise_seeds}"
        ),
        f"- Device: {run.device}; {round(ev.seconds, 1)} s in all ({round(ev.generation_seconds, 1)} s generating)",
        "",
        "## Summary",
        "",
        "| measure | value | |",
        "|---|---|---|",
    ]
    out += [row.markdown() for r in ev.results for row in r.summary(run)]
    out.append("")
    out += [line for r in ev.results for line in r.sections(run)]
    notes = ev.notes + [n for r in ev.results for n in r.footnotes()]
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    reroll = ev.sheet.reroll
    if reroll is not None:
        out += [
            "## Local re-roll",
            "",
            (
                f"Variation 1 re-rolled only on its layout's largest class (outlined in the contact sheet), "
                f"{reroll.layouts} layouts: mean RGB change {reroll.change_inside} inside, "
                f"{reroll.change_outside} outside (more than 8 px away)."
            ),
            "",
        ]
    out += [
        "`contact_sheet.png`: each row is layout | real image | generated variations"
        + (" | variation 1 re-rolled inside the outline." if reroll is not None else "."),
        "",
    ]
    return "\n".join(out)


def contact_sheet(
    rows: list[list[np.ndarray]], max_cell_width: int = 256, titles: list[str] | None = None
) -> Image.Image:
    """Rows of equal-size (H, W, 3) uint8 cells -> one image with a header naming the columns."""
    if not rows:
        raise ValueError("no rows")
    h, w = rows[0][0].shape[:2]
    scale = min(1.0, max_cell_width / w)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    cols = max(len(r) for r in rows)
    gap, header = 2, 14
    sheet = Image.new("RGB", (cols * (cw + gap) + gap, header + len(rows) * (ch + gap) + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    titles = titles or ["layout", "real", *(f"generated {i + 1}" for i in range(cols - 2))]
    for j, t in enumerate(titles):
        draw.text((gap + j * (cw + gap) + 2, 1), t, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            im = Image.fromarray(np.asarray(cell, np.uint8))
            if im.size != (cw, ch):
                im = im.resize((cw, ch), Image.Resampling.NEAREST if j == 0 else Image.Resampling.BILINEAR)
            sheet.paste(im, (gap + j * (cw + gap), header + gap + i * (ch + gap)))
    return sheet


def write_report(out: str | Path, ev: Evaluation) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json", out / "report.md", out / "contact_sheet.png"]
    paths[0].write_text(json.dumps(ev.to_json(), indent=2, allow_nan=False), encoding="utf-8")
    paths[1].write_text(markdown_report(ev), encoding="utf-8")
    contact_sheet(ev.sheet.rows, titles=ev.sheet.columns).save(paths[2])
    return paths

"""The files of an evaluation: ``metrics.json``, ``report.md`` and ``contact_sheet.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["contact_sheet", "markdown_report", "write_report"]


def _fmt(v: Any, scale: float = 1.0, nd: int = 2) -> str:
    return "n/a" if v is None else f"{v * scale:.{nd}f}"


def markdown_report(m: dict[str, Any]) -> str:
    model, data = m["model"], m["dataset"]
    h, w = model["size"]
    out = [
        f"# OASIS evaluation: {model['name'] or Path(model['path']).name}",
        "",
        f"- Model: `{model['path']}` ({h}x{w}, {model['label_nc']} label channels)",
        (
            f"- Data: {data['kind']} `{data['root']}`, split `{data['split']}`: {m['layouts']} layouts x "
            f"{m['variations']} generated variation(s); noise seeds: {m['noise_seeds']}"
        ),
        f"- Device: {m['device']}; {m['seconds']['total']} s in all ({m['seconds']['generation']} s generating)",
        "",
        "## Summary",
        "",
        "| measure | value | |",
        "|---|---|---|",
    ]
    if m["fid"] is not None:
        out.append(f"| FID ↓ | {m['fid']:.2f} | {m['fid_images']} real vs {m['fid_images']} generated images |")
        out.append(f"| KID x 1000 ↓ | {_fmt(m['kid']['mean'], 1000)} ± {_fmt(m['kid']['std'], 1000)} | |")
    else:
        out.append(f"| FID / KID ↓ | not computed | {m['fid_reason']} |")
    mi = m["miou"]
    if mi is not None:
        out.append(f"| mIoU, judge on generated images ↑ | {_fmt(mi['generated'], 100, 1)} | at {h}x{w} |")
        out.append(
            f"| mIoU, judge on real images (its ceiling) | {_fmt(mi['real'], 100, 1)} | same layouts, same size |"
        )
    else:
        out.append(f"| mIoU ↑ | not computed | {m['miou_reason']} |")
    div = m["diversity"]
    if div is not None:
        out.append(
            f"| MS-SSIM ↓ (diversity) | {div['ms_ssim']:.3f} | {div['scales']} of 5 scales, {div['layouts']} layouts |"
        )
    else:
        out.append(f"| MS-SSIM ↓ (diversity) | not computed | {m['diversity_reason']} |")
    if m["lpips"] is not None:
        out.append(f"| LPIPS ↑ (diversity) | {m['lpips']:.3f} | AlexNet v0.1, mean pairwise |")
    else:
        out.append(f"| LPIPS ↑ (diversity) | not available | {m['lpips_reason']} |")
    ct = m["color_texture"]
    if ct is not None:
        out.append(f"| colour: LAB histogram EMD ↓ | {ct['color_emd']:.2f} | mean over {ct['classes']} classes |")
        out.append(f"| texture: LBP histogram χ² ↓ | {ct['texture_chi2']:.4f} | mean over {ct['classes']} classes |")
    out.append("")

    if mi is not None:
        judge = mi["judge"]
        ratio = mi["ratio_generated_to_real"]
        out += [
            "## Judge check",
            "",
            f"**The judge scores mIoU {_fmt(mi['real'], 100, 1)} on the real {data['split']} images and "
            f"{_fmt(mi['generated'], 100, 1)} on the generated ones"
            + (f" ({ratio * 100:.0f}% of its real-image score)" if ratio is not None else "")
            + f"**, both at the model's size {h}x{w}, one confusion matrix over the split, don't-care ignored. "
            "A generated mIoU near the real one means the images follow their layouts as well as photos do, "
            "as far as this judge can tell; a low real-image mIoU means the judge itself is weak.",
            "",
            f"Judge: {judge['kind']} `{judge['source']}`"
            + (f", runs at {judge['input_size'][0]}x{judge['input_size'][1]}" if judge.get("input_size") else "")
            + (f", trained on {judge['trained_on']}" if judge.get("trained_on") else "")
            + (
                f" (val mIoU {judge['val_miou_at_training'] * 100:.1f} at its own size)"
                if judge.get("val_miou_at_training") is not None
                else ""
            )
            + ".",
            "",
            "## Per-class IoU by class frequency (as the paper's Tables B-D)",
            "",
            f"Classes sorted by pixel frequency ({mi['frequency_source']}) and cut into bands of equal class count.",
            "",
            "| band | classes | pixel share | mIoU real | mIoU generated |",
            "|---|---|---|---|---|",
        ]
        for b in mi["frequency_bands"]:
            out.append(
                f"| {b['band']} | {', '.join(b['classes'])} | {_fmt(b['pixel_share'], 100, 1)}% | "
                f"{_fmt(b['miou_real'], 100, 1)} | {_fmt(b['miou_generated'], 100, 1)} |"
            )
        out += ["", "| class | pixel share | IoU real | IoU generated |", "|---|---|---|---|"]
        order = [c for b in mi["frequency_bands"] for c in b["classes"]]
        for c in order:
            pc = mi["per_class"][c]
            out.append(
                f"| {c} | {_fmt(pc['pixel_share'], 100, 2)}% | {_fmt(pc['iou_real'], 100, 1)} | {_fmt(pc['iou_generated'], 100, 1)} |"
            )
        out.append("")
    if ct is not None:
        out += [
            "## Colour and texture per class (Fig. 6)",
            "",
            ct["note"] + ".",
            "",
            "| class | colour EMD | texture χ² |",
            "|---|---|---|",
        ]
        for c, d in ct["per_class"].items():
            out.append(f"| {c} | {d['color_emd']:.2f} | {d['texture_chi2']:.4f} |")
        out.append("")
    notes = list(m.get("notes", []))
    if div is not None:
        notes.append("Diversity: " + div["note"])
    if m["fid"] is not None:
        notes.append("FID/KID: " + m["fid_note"])
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if m.get("local_reroll"):
        r = m["local_reroll"]
        out += ["## Local re-roll", "",
                f"Variation 1 re-rolled only on its layout's largest class (outlined in the contact sheet), "
                f"{r['layouts']} layouts: mean RGB change {r['change_inside']} inside, {r['change_outside']} outside "
                "(more than 8 px away).", ""]
    out += ["`contact_sheet.png`: each row is layout | real image | generated variations"
            + (" | variation 1 re-rolled inside the outline." if m.get("local_reroll") else "."), ""]
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


def write_report(out: str | Path, metrics: dict[str, Any], rows: list[list[np.ndarray]]) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json", out / "report.md", out / "contact_sheet.png"]
    paths[0].write_text(json.dumps(metrics, indent=2, allow_nan=False), encoding="utf-8")
    paths[1].write_text(markdown_report(metrics), encoding="utf-8")
    contact_sheet(rows, titles=metrics.get("contact_sheet_columns")).save(paths[2])
    return paths

"""The README and docs stay true: the README's test command is what CI runs, the `oasis-train` option list in
docs/training.md is the parser's, and their images and relative links (anchors included) resolve.

After changing `training/options.py`, regenerate the option list with `python -m tests.test_readme --update`.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TRAINING_DOC = ROOT / "docs" / "training.md"  # holds the generated `oasis-train --help` block
DOCS = [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
CI = ROOT / ".ci" / "run"
BEGIN = "<!-- BEGIN oasis-train --help"
END = "<!-- END oasis-train --help -->"
FAKE_HOME = "/home/user"


def _code_blocks(section: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)]


def _two_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Two commands") :]
    section = section[: section.index("\n## ", 1)]
    return _code_blocks(section)


def train_help() -> str:
    """`oasis-train --help` as docs/training.md shows it: 100 columns, no colour, the home folder written as ~ (and
    wrapped as if it were /home/user, so that the text is the same on every machine)."""
    from training.options import build_parser

    saved = {k: os.environ.get(k) for k in ("COLUMNS", "NO_COLOR", "OASIS_RUNS_DIR", "HOME", "USERPROFILE")}
    os.environ.update(COLUMNS="100", NO_COLOR="1", HOME=FAKE_HOME, USERPROFILE=FAKE_HOME)
    os.environ.pop("OASIS_RUNS_DIR", None)
    try:
        text = build_parser().format_help()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return text.replace(FAKE_HOME, "~").rstrip() + "\n"


def _shown_help(text: str) -> str:
    start = text.index(BEGIN)
    block = text[start : text.index(END, start)]
    return block[block.index("```text\n") + len("```text\n") : block.rindex("```")]


def _options_part(help_text: str) -> str:
    """From the first option heading on, whitespace collapsed: argparse's line wrapping (and its usage
    layout) differ between Python versions, the options and their help texts must not."""
    m = re.search(r"^(options|optional arguments):$", help_text, flags=re.MULTILINE)
    assert m, help_text[:500]
    return " ".join(help_text[m.end() :].split())


def test_readme_has_two_commands_app_then_tests() -> None:
    blocks = _two_commands()
    assert len(blocks) == 2, blocks
    app, tests = blocks
    assert app == "python3 -m venv .venv && .venv/bin/pip install -c constraints-cpu.txt -e . && .venv/bin/oasis-studio"
    assert "\n" not in tests and tests.endswith(".venv/bin/python -m pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = _two_commands()[1]
    lines = [line.strip() for line in CI.read_text().splitlines()]
    assert command in lines, f".ci/run does not run the README's test command:\n{command}"
    assert os.access(CI, os.X_OK)


def test_train_options_list_matches_the_parser() -> None:
    shown = _shown_help(TRAINING_DOC.read_text(encoding="utf-8"))
    assert _options_part(shown) == _options_part(train_help()), (
        "docs/training.md's oasis-train option list differs from training.options.build_parser(): "
        "run `python -m tests.test_readme --update`"
    )


def test_readme_and_docs_images_exist() -> None:
    for doc in DOCS:
        for ref in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / ref).is_file(), f"{doc.relative_to(ROOT)}: {ref}"


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -."""
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_and_docs_links_resolve() -> None:
    """Relative links in the README, the changelog and docs/ point at files and headings that exist: a section
    moved between them must take its links along."""
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            assert linked.exists(), f"{doc.relative_to(ROOT)}: {target}"
            if anchor:
                assert anchor in _anchors(linked), f"{doc.relative_to(ROOT)}: no heading for #{anchor}"


def update() -> None:
    text = TRAINING_DOC.read_text(encoding="utf-8")
    start = text.index(BEGIN)
    begin_line_end = text.index("\n", start) + 1
    end = text.index(END, start)
    text = text[:begin_line_end] + "```text\n" + train_help() + "```\n" + text[end:]
    TRAINING_DOC.write_text(text, encoding="utf-8")
    print(f"updated the oasis-train option list in {TRAINING_DOC}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        sys.exit("usage: python -m tests.test_readme --update   (rewrites docs/training.md's oasis-train --help block)")

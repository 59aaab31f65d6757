#!/usr/bin/env bash
# Build the one-folder `oasis-studio` bundle with PyInstaller.
#
#   build/build.sh [DIST_DIR]        (default /tmp/oasis-build/dist)
#
# The bundle is DIST_DIR/oasis-studio/ (run DIST_DIR/oasis-studio/oasis-studio); PyInstaller's scratch files
# go to DIST_DIR/../work. $PYTHON (default: .venv/bin/python if present, else python3) must have the project
# and PyInstaller installed: `.venv/bin/pip install -c constraints-cpu.txt -e '.[build]'`.
# Check the result with: QT_QPA_PLATFORM=offscreen DIST_DIR/oasis-studio/oasis-studio --self-test
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${1:-/tmp/oasis-build/dist}"
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"
WORK="${OASIS_BUILD_WORK:-$(dirname "$DIST")/work}"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
case "$DIST/" in
    "$ROOT"/*) echo "build.sh: put the bundle outside the repository (got $DIST)" >&2; exit 2 ;;
esac
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: PyInstaller is not installed for $PYTHON; run: pip install -c constraints-cpu.txt -e '.[build]'" >&2
    exit 2
fi
start=$(date +%s)
cd "$ROOT"
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" "$ROOT/build/oasis-studio.spec"
size=$(du -sm "$DIST/oasis-studio" | cut -f1)
echo "built $DIST/oasis-studio/oasis-studio: ${size} MB in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Builds the Cloud Functions deploy bundle: functions/ plus a copy of schemas/ inside it, zipped
# deterministically (sorted entries, fixed timestamps and modes) and named by its SHA-256, so the
# same source always gives the same file name and Terraform redeploys only on a real change.
#
# Usage: scripts/package_functions.sh [--root REPO_DIR] [--out OUT_DIR]
# Prints the bundle's path as its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) root="$(cd "$2" && pwd)"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "package_functions: unknown argument '$1' (use --root DIR, --out DIR)" >&2; exit 2 ;;
  esac
done
out="${out:-$root/build}"

for required in functions/main.py functions/requirements.txt functions/mangaflow/__init__.py schemas; do
  if [[ ! -e "$root/$required" ]]; then
    echo "package_functions: $root/$required is missing; the bundle needs it" >&2
    exit 1
  fi
done

python="${PYTHON:-python3}"
mkdir -p "$out"
"$python" - "$root" "$out" <<'PY'
import hashlib
import os
import sys
import zipfile
from pathlib import Path

root, out = Path(sys.argv[1]), Path(sys.argv[2])
# Caches and build leftovers never ship; everything else under functions/ and schemas/ does.
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules", ".local"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def files_under(base: Path, prefix: str) -> list[tuple[str, Path]]:
    found = []
    for directory, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in names:
            if name.endswith(SKIP_SUFFIXES):
                continue
            path = Path(directory) / name
            found.append((prefix + path.relative_to(base).as_posix(), path))
    return found


entries = files_under(root / "functions", "") + files_under(root / "schemas", "schemas/")
entries.sort()
names = [name for name, _ in entries]
if len(names) != len(set(names)):
    sys.exit("package_functions: functions/schemas clashes with schemas/; remove one of them")

partial = out / ".bundle.zip.partial"
with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
    for name, path in entries:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # Unix, so the mode bits below mean the same everywhere
        info.external_attr = (0o100644 << 16)
        bundle.writestr(info, path.read_bytes())

digest = hashlib.sha256(partial.read_bytes()).hexdigest()
final = out / f"mangaflow-functions-{digest[:16]}.zip"
partial.replace(final)
print(f"{len(entries)} files, sha256 {digest}", file=sys.stderr)
print(final)
PY

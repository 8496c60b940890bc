#!/usr/bin/env bash
# Installs the pinned dflockd server into .dflockd/ (ignored by git) when it is missing.
#
#   bash scripts/install-dflockd.sh           # `npm run server:install`; CI runs it too
#   bash scripts/install-dflockd.sh --quiet   # silent when already installed (npm test, example, bench)
#
# This is a development tool: the published package has no install script (a library's users
# never need our test server), so `npm test`, `npm run example` and `npm run bench` call it.
#
# The pinned server is the dflockd package from PyPI (version in scripts/dflockd-version).
# The Go module github.com/mtingers/dflockd is refused by the Go module proxy this project's
# machines reach (every version, @main included), so the Go build cannot be installed here;
# see docs/development.md "Test server". The Python server speaks the same wire protocol (l r n e w).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d '[:space:]' < "$root/scripts/dflockd-version")
dest="$root/.dflockd"
quiet=false
if [ "${1:-}" = "--quiet" ]; then quiet=true; fi
bin="$dest/venv/bin/dflockd"

if [ -x "$bin" ] && [ "$(cat "$dest/installed-version" 2>/dev/null)" = "$version" ]; then
  if [ "$quiet" = false ]; then echo "dflockd $version already installed at $bin"; fi
  exit 0
fi

# dflockd needs Python >= 3.13: find one (PATH first, then pyenv's versions folder).
python=""
for candidate in python3.14 python3.13 \
  "$(pyenv root 2>/dev/null)"/versions/3.1[3-9]*/bin/python3 \
  "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
    python=$(command -v "$candidate")
    break
  fi
done
if [ -z "$python" ]; then
  echo "install-dflockd: no Python >= 3.13 found (dflockd $version requires it)" >&2
  exit 1
fi

rm -rf "$dest"
mkdir -p "$dest"
"$python" -m venv "$dest/venv"
"$dest/venv/bin/pip" install --quiet --disable-pip-version-check "dflockd==$version"
echo "$version" > "$dest/installed-version"
echo "dflockd $version installed at $bin ($("$dest/venv/bin/python" --version))"

#!/usr/bin/env bash
# Idempotent set-up for `make run` and `make test`: system packages, .venv, Python packages.
# A second run installs nothing: each step checks first.
#   tools/bootstrap.sh          what the app needs
#   tools/bootstrap.sh test     plus the test extras (Ray, Chromium for the browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

apt_pkgs=(libfluidsynth3 fluid-soundfont-gm)
[ "$mode" = test ] && apt_pkgs+=(chromium)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: not root, so not installing system packages; run: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi
reqs=(requirements.txt)
[ "$mode" = test ] && reqs+=(requirements-ray.txt)
for r in "${reqs[@]}"; do
  stamp=".venv/.installed-$r"
  sum=$(sha256sum "$r" | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "bootstrap: installing $r"
    .venv/bin/pip install -q -r "$r"
    echo "$sum" >"$stamp"
  fi
done

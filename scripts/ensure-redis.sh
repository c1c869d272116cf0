#!/usr/bin/env bash
# Installs Debian's Redis server, which the result-cache tests start on a free port of their own
# (test/helpers/redis.ts; the service itself only needs a Redis reachable at
# TOKLIP_CACHE_REDIS_URL). Like ensure-python-deps.sh: nothing to do when it is there; apt-get
# install when root (or with sudo) when it is not.
set -euo pipefail
SERVER=/usr/bin/redis-server
if [ -x "$SERVER" ]; then exit 0; fi
echo "installing Debian package: redis-server" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "run as root or install: apt-get install redis-server" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
# The tests do not use the packaged service (where an init system starts it, it listens on
# 6379 and is left alone); they run servers of their own on free ports.
$SUDO apt-get install -y -q --no-install-recommends redis-server >/dev/null
"$SERVER" --version >&2

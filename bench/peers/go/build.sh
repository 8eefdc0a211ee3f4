#!/bin/sh
# Builds the Go peer offline from Debian's Go packages (GOPATH mode).
#   bench/peers/go/build.sh OUTPUT
# Installs the packages only when one is missing; rebuilds OUTPUT only when a
# source (*.go, this script) is newer than it. Quiet unless something happens.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTPUT}

pkgs="golang-go golang-github-go-chi-chi-dev golang-github-jmoiron-sqlx-dev golang-github-jackc-pgx-v4-dev"
missing=""
for p in $pkgs; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  echo "bench/peers/go/build.sh: apt-get install$missing" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq $missing >/dev/null || {
    $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq $missing >/dev/null
  }
fi

if [ -f "$out" ] && [ -z "$(find "$here" -maxdepth 1 \( -name '*.go' -o -name build.sh \) -newer "$out" | head -n 1)" ]; then
  exit 0
fi
mkdir -p "$(dirname "$out")"
# GOPATH mode over /usr/share/gocode (Debian's Go sources), no network; the
# build cache goes to a private directory when HOME is not writable.
cache=${GOCACHE:-}
if [ -z "$cache" ]; then
  if [ -n "${HOME:-}" ] && [ -w "${HOME:-/nonexistent}" ]; then cache="$HOME/.cache/go-build"
  else cache="${TMPDIR:-/tmp}/looplab-go-cache-$(id -u)"; fi
fi
cd "$here"
GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOCACHE="$cache" \
  go build -o "$out.tmp" . || { rm -f "$out.tmp"; exit 1; }
mv -f "$out.tmp" "$out"

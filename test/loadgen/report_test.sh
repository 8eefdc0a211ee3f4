#!/bin/sh
# looplab-load --report (issue 12, point 9): the HTML page a run writes is
# opened in headless Chromium (Debian's chromium, installed here through
# deps/install when missing), which dumps the DOM it rendered and takes a
# screenshot. The page passes when every chart has a drawn SVG path, the
# summary and thresholds tables are there, nothing outside the file is
# referenced, and Chromium logged no console message (there is no script,
# so any would be an error).
#
# Environment (from CMake): LOADGEN_BIN, STALLSERVER_BIN, LOOPLAB_SRC.
set -eu
fail() { echo "report_test: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
  LOOPLAB_EXTRA_PKGS=chromium "$LOOPLAB_SRC/deps/install" ||
    fail "cannot install chromium"
fi

dir=$(mktemp -d /tmp/loadgen-report-XXXXXX)
srv=""
cleanup() {
  if [ -n "$srv" ]; then
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$STALLSERVER_BIN" > "$dir/port" &
srv=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [ -s "$dir/port" ] && break
  sleep 0.1
done
port=$(awk '{print $2}' "$dir/port")
[ -n "$port" ] || fail "stallserver did not start"

"$LOADGEN_BIN" --url "http://127.0.0.1:$port/" --vus 2 --duration 2500ms -q \
  --server-pid "$srv" --threshold 'p(99)<10s' --threshold 'http_req_failed<0.01' \
  --report "$dir/report.html" > "$dir/stdout" 2>&1 || fail "looplab-load exited $?"

html="$dir/report.html"
# Self-contained: no script, style sheet, image, font or frame from elsewhere.
if grep -Eiq '<script|<link|<img|<iframe| src=| href=|@import|url\(' "$html"; then
  fail "the report references something outside itself"
fi

chrome() {
  timeout 60 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr \
    --v=0 --user-data-dir="$dir/profile" "$@"
}
chrome --dump-dom "file://$html" > "$dir/dom.html" 2> "$dir/chrome-dom.log" ||
  fail "chromium --dump-dom failed: $(tail -3 "$dir/chrome-dom.log")"
chrome --window-size=1280,2400 --screenshot="$dir/shot.png" "file://$html" \
  > /dev/null 2> "$dir/chrome-shot.log" || fail "chromium --screenshot failed"

for log in "$dir/chrome-dom.log" "$dir/chrome-shot.log"; do
  if grep -Eq 'Uncaught|CONSOLE' "$log"; then
    fail "console messages: $(grep -E 'Uncaught|CONSOLE' "$log" | head -3)"
  fi
done

# Each chart, as Chromium rendered it, has a path with at least two points.
for id in rate latency vus errors server_rss server_cpu; do
  sed -n "/<section class=\"chart\" id=\"$id\"/,/<\/section>/p" "$dir/dom.html" |
    grep -Eq 'd="M[0-9.]+ [0-9.]+ L[0-9.]+ [0-9.]+' ||
    fail "chart $id has no drawn path"
done
n=$(grep -Ec 'd="M[0-9.]+ [0-9.]+ L' "$dir/dom.html")
[ "$n" -ge 10 ] || fail "$n drawn series, want 10"
grep -q 'id="summary"' "$dir/dom.html" || fail "no summary table"
grep -q 'http_req_waiting' "$dir/dom.html" || fail "no http_req_waiting row"
grep -q 'p(99)&lt;10s' "$dir/dom.html" || fail "no threshold row"
grep -q 'passed' "$dir/dom.html" || fail "no threshold verdict"

# The screenshot is a real PNG of some size.
[ "$(head -c 4 "$dir/shot.png" | od -An -c | tr -d ' ')" = "211PNG" ] ||
  fail "no PNG screenshot"
[ "$(wc -c < "$dir/shot.png")" -gt 20000 ] || fail "the screenshot is nearly empty"
echo "report_test: ok ($n series drawn)"

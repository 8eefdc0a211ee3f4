#!/bin/sh
# Writes (or, with --check, verifies) the expected W2 dashboard bodies of this
# folder from a running looplab (or peer) serving the scale-1 database.
#
#   test/conformance/dashboard/regenerate.sh http://127.0.0.1:8080            # write
#   test/conformance/dashboard/regenerate.sh --check http://127.0.0.1:8080    # compare
#
# Every case is fetched with ?queries=sequential, parallel and pipeline; the
# three bodies must be byte-identical (and, with --check, equal to the file).
# Needs curl and cmp. Exit status 0 when everything matched.
set -eu
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
base=${1:?usage: regenerate.sh [--check] BASE_URL}
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# NN-customer-ID (200) and NN-missing-customer-ID (404): the names looplab-conform reads.
cases="01-customer-1 02-customer-6 03-customer-12 04-customer-26 05-customer-40
06-customer-42 07-customer-1234 08-customer-4242 09-customer-5000 10-customer-6201
11-customer-6563 12-customer-9003 13-customer-9041 14-customer-10000
15-missing-customer-10001 16-missing-customer-9223372036854775807"

fail=0
for c in $cases; do
  id=${c##*-}
  kind=$(echo "$c" | cut -d- -f2)
  want=200; [ "$kind" = missing ] && want=404
  for q in sequential parallel pipeline; do
    code=$(curl -s -o "$tmp/$q" -w '%{http_code}' "$base/customers/$id/dashboard?queries=$q")
    if [ "$code" != "$want" ]; then echo "FAIL $c $q: status $code, want $want"; fail=1; fi
  done
  if ! cmp -s "$tmp/sequential" "$tmp/parallel" || ! cmp -s "$tmp/sequential" "$tmp/pipeline"; then
    echo "FAIL $c: the three strategies differ"; fail=1; continue
  fi
  if [ $check = 1 ]; then
    if cmp -s "$tmp/sequential" "$dir/$c.expected.json"; then echo "ok   $c"
    else echo "FAIL $c: body differs from $c.expected.json"; fail=1; fi
  else
    cp "$tmp/sequential" "$dir/$c.expected.json"
    echo "wrote $c.expected.json ($(wc -c < "$dir/$c.expected.json") bytes)"
  fi
done
exit $fail

#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (seconds, default 30) with libFuzzer + AddressSanitizer.
# Seeds come from the repository's fixtures (plus regression inputs in seeds/<target>); findings land in fuzz/artifacts/<target>/.
#   fuzz/run-fuzz.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_frame normalize ingest policy detect state_commit)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
fixtures=../tests/fixtures/tailscale
export RUSTC_BOOTSTRAP=1   # cargo-fuzz passes nightly-only sanitizer flags; stable rustc accepts them with this
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  seeds=("$fixtures" "$fixtures/bad")
  case "$t" in
    policy) seeds=(seeds/policy) ;;
    ingest) seeds=(seeds/ingest) ;;
    state_commit) seeds=(seeds/state_commit) ;;
    normalize|detect) seeds+=(seeds/normalize) ;;
  esac
  echo "== $t (${secs}s)"
  cargo fuzz run -O "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=262144 2>&1 | tee "corpus/$t.log" | grep -E "^#[0-9]+ *DONE|Done [0-9]+ runs|ERROR|SUMMARY" || true
  grep -q "Done [0-9]* runs" "corpus/$t.log" || { echo "fuzz target $t failed: see fuzz/corpus/$t.log" >&2; tail -40 "corpus/$t.log" >&2; exit 1; }
done

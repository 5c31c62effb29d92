#!/usr/bin/env bash
# Runs every check and test Steward has. Used by developers and by CI (.ci/run).
# Installs or starts what the tests need when it is missing; assumes only a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# PostgreSQL at 127.0.0.1:5432 (user postgres, database test) for the store conformance suite
# and the end-to-end tests. Start it if it is installed but down; install it if it is missing.
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if [ -z "${STEWARD_TEST_POSTGRES:-}" ] && ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL does not answer on 127.0.0.1:5432; the store tests need it" >&2; exit 1; }
  # A fresh cluster needs the test database and trust on loopback.
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 \
    || su postgres -c "createdb test" || true
fi

# The fault tests start a PostgreSQL of their own (initdb, pg_ctl) as the postgres user.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing PostgreSQL's server binaries"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi

# The alerting tests run a real Prometheus, Alertmanager and amtool (Debian packages), and a
# real PagerDuty client (pdpyras, from PyPI) under python3.
apt_missing=()
command -v prometheus >/dev/null || apt_missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || apt_missing+=(prometheus-alertmanager)
command -v python3 >/dev/null || apt_missing+=(python3 python3-pip)
# The single sign-on test runs a real OpenID provider (oidc-provider, from npm) under node.
command -v node >/dev/null && command -v npm >/dev/null || apt_missing+=(nodejs npm)
# The HTTPS test makes a certificate with openssl and reaches the server with curl.
command -v openssl >/dev/null || apt_missing+=(openssl)
command -v curl >/dev/null || apt_missing+=(curl)
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing ${apt_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
if ! python3 -c 'import pdpyras' 2>/dev/null; then
  say "installing pdpyras"
  python3 -m pip install -q pdpyras 2>/dev/null || python3 -m pip install -q --break-system-packages pdpyras
fi

if [ ! -d testdata/oidc/node_modules/oidc-provider ]; then
  say "installing oidc-provider (npm ci in testdata/oidc)"
  (cd testdata/oidc && npm ci --no-audit --no-fund --loglevel=error)
fi

for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    say "installing $c"
    rustup component add "$c"
  fi
done

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings


# Coverage-guided fuzzing of the config loader and the samples decoder, from the committed
# corpus, bounded in time. Caps: 1 GiB resident, 512 MiB in one allocation, 16 KiB inputs.
# New inputs go to a scratch directory; a crash fails the run and leaves its input in
# fuzz/artifacts/. (cargo fuzz runs on the stable toolchain without a sanitizer.)
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
for target in config samples; do
  say "fuzzing $target for ${FUZZ_SECONDS:-60}s"
  scratch=$(mktemp -d)
  log=$(mktemp)
  if ! (cd fuzz && cargo fuzz run --sanitizer none "$target" "$scratch" "corpus/$target" -- \
      -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=1024 -malloc_limit_mb=512 \
      -max_len=16384 >"$log" 2>&1); then
    tail -n 60 "$log" >&2
    echo "fuzzing $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$log" || true
  rm -rf "$scratch" "$log"
done

say "cargo test"
cargo test --workspace --locked

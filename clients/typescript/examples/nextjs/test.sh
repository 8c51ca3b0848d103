#!/usr/bin/env bash
# The Next.js example in a browser, as one command (too slow for CI: npm ci and a
# production `next build` take minutes on two cores). Needs what `cargo test` needs (MariaDB on
# 127.0.0.1:3306, see the README), Node 20 and Debian's chromium (`apt-get install
# chromium`; playwright-core drives it, no browser is downloaded). Screenshots go to
# $SCREENSHOTS (default target/nextjs-e2e/ in the repository).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
export SCREENSHOTS="${SCREENSHOTS:-$repo/target/nextjs-e2e}"
export NEXT_TELEMETRY_DISABLED=1

# The client first: the example depends on it as `file:../..`, a link npm does not build.
(cd "$repo/clients/typescript" && npm ci --no-audit --no-fund)
(cd "$here" && npm ci --no-audit --no-fund && npx next build)
cd "$repo"
cargo test --locked --test cli -- --ignored --exact typescript_client::the_nextjs_example_signs_up_in_a_browser --nocapture
echo "screenshots: $SCREENSHOTS"

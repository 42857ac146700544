#!/usr/bin/env bash
# Installs exactly Pulumi CLI $1 (e.g. 3.263.0) into ~/.pulumi/bin unless that version is already on
# PATH, and puts it on the job's PATH. The version is the one of the Pulumi Go SDK in go.mod.
set -euo pipefail
want=${1:?usage: pulumi-cli.sh VERSION}
if [ "$(pulumi version 2>/dev/null || true)" != "v$want" ]; then
  curl -fsSL https://get.pulumi.com | sh -s -- --version "$want"
  export PATH="$HOME/.pulumi/bin:$PATH"
fi
got=$(pulumi version)
if [ "$got" != "v$want" ]; then
  echo "pulumi-cli.sh: got Pulumi $got, want v$want" >&2
  exit 1
fi
if [ -n "${GITHUB_PATH:-}" ]; then
  dirname "$(command -v pulumi)" >> "$GITHUB_PATH"
fi
echo "Pulumi $got"

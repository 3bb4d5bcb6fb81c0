#!/bin/sh
# Host-side gate launcher: runs `authcalator gate` under the least authority for this user's paths.
# `authcalator permissions gate --config FILE` computes the pinned Deno flags from the very
# config the gate reads (sockets, ADC file, Google hosts), so nothing is restated here.
#
# Env: AUTHCALATOR_GATE_CONFIG (default: $XDG_CONFIG_HOME/authcalator/gate.toml),
# AUTHCALATOR (default: authcalator on PATH), DENO (default: deno on PATH).
# Used by the systemd user unit and the launchd agent next to this file.
set -eu
set -f # the printed flags are words, never globs
config=${AUTHCALATOR_GATE_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/authcalator/gate.toml}
if [ ! -r "$config" ]; then
  echo "authcalator-gate: no config at $config (copy gate.toml.example there)" >&2
  exit 2
fi
line=$("${AUTHCALATOR:-authcalator}" permissions gate --config "$config")
deno() { exec "${DENO:-deno}" "$@"; }
eval "$line"

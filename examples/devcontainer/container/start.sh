#!/bin/sh
# postStartCommand: starts the metadata proxy in the background, under the pinned Deno flags that
# `authcalator permissions metadata-proxy` computes from this container's settings (remoteEnv), and
# waits (bounded) until it listens. Idempotent: a proxy already answering is left alone.
#
# Env: the GCP_AUTHCALATOR_* and GCE_METADATA_* variables of devcontainer.json's remoteEnv;
# AUTHCALATOR (default: authcalator on PATH), DENO (default: deno on PATH),
# AUTHCALATOR_PROXY_LOG (default: /tmp/authcalator-metadata-proxy.log),
# AUTHCALATOR_START_TIMEOUT seconds (default 30).
set -eu
set -f # the printed flags hold GCP_AUTHCALATOR_*: never glob them
authcalator=${AUTHCALATOR:-authcalator}
socket=${GCP_AUTHCALATOR_SOCKET_PATH:-/run/authcalator/gate.sock}
host=${GCE_METADATA_HOST:-127.0.0.1:8173}
log=${AUTHCALATOR_PROXY_LOG:-/tmp/authcalator-metadata-proxy.log}
timeout=${AUTHCALATOR_START_TIMEOUT:-30}

answers() {
  # bash-free check: ask the proxy's root with curl when present, else trust the log line.
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 2 -H 'Metadata-Flavor: Google' "http://$host/" >/dev/null 2>&1
  else
    grep -q 'metadata-proxy listening on' "$log" 2>/dev/null
  fi
}

if answers; then
  echo "authcalator: metadata proxy already answers on $host"
  exit 0
fi
if [ ! -S "$socket" ]; then
  echo "authcalator: the gate socket $socket is missing: start the gate on the host" >&2
  echo "  (examples/devcontainer/host/authcalator-gate.sh) and rebuild or restart the container" >&2
  exit 1
fi

if command -v "${DENO:-deno}" >/dev/null 2>&1; then
  line=$("$authcalator" permissions metadata-proxy)
  deno() { exec "${DENO:-deno}" "$@"; }
  # The subshell becomes `deno run <pinned flags> <main> metadata-proxy` (deno: the function above).
  (eval "$line") >"$log" 2>&1 </dev/null &
else
  # A release binary without Deno: its start-up revocation (kinds, not paths) is the control.
  "$authcalator" metadata-proxy >"$log" 2>&1 </dev/null &
fi
pid=$!

i=0
while [ "$i" -lt $((timeout * 10)) ]; do
  if grep -q 'metadata-proxy listening on' "$log" 2>/dev/null; then
    echo "authcalator: metadata proxy (pid $pid) listening on $host; log: $log"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "authcalator: the metadata proxy exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done
echo "authcalator: the metadata proxy did not listen within $timeout s; log: $log" >&2
kill "$pid" 2>/dev/null || true
exit 1

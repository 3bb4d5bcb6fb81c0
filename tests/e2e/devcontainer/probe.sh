#!/bin/bash
# Runs INSIDE the namespaced "container" (own PID, network and mount namespaces; only the gate
# socket shared). Starts the recipe's container script, then has Node, Python and gcloud fetch dev
# tokens, and with-prod fetch the prod token while a process outside its tree is refused.
# Results go to /out (the only writable host directory); `status` holds one `name=code` per step.
set -u
out=/out
checkout=$1
token_path=/computeMetadata/v1/instance/service-accounts/default/token
get() { # host:port path -> raw HTTP answer on stdout
  exec 3<>"/dev/tcp/${1%:*}/${1#*:}" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nMetadata-Flavor: Google\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
  cat <&3
  exec 3<&-
}
step() { echo "$1=$2" >>"$out/status"; }

echo "$$" >"$out/probe-pid"
sh "$checkout/examples/devcontainer/container/start.sh" >"$out/start.txt" 2>&1
step start $?
# postStartCommand runs on every start: a second run leaves the running proxy alone.
sh "$checkout/examples/devcontainer/container/start.sh" >"$out/start-again.txt" 2>&1
step start-again $?

node "$checkout/tests/e2e/devcontainer/node_client.cjs" "$checkout/node_modules" >"$out/node.txt" 2>&1
step node $?
/usr/bin/python3 "$checkout/tests/e2e/clients/python_client.py" >"$out/python.txt" 2>&1
step python $?
if command -v gcloud >/dev/null 2>&1; then
  CLOUDSDK_CONFIG=$HOME/.config/gcloud gcloud auth print-access-token >"$out/gcloud.txt" 2>"$out/gcloud.err"
  step gcloud $?
else
  step gcloud skipped # not a Debian package: the test says so loudly
fi

# A process of this container outside with-prod's tree: it tries with-prod's temporary proxy.
(
  for _ in $(seq 1 1200); do [ -s "$out/wp-host" ] && break; sleep 0.05; done
  get "$(cat "$out/wp-host")" "$token_path" >"$out/outsider.txt" 2>&1
  touch "$out/outsider-done"
) &

authcalator with-prod -- bash -c '
  echo "$GCE_METADATA_HOST" >/out/wp-host
  echo "$$" >/out/wp-child-pid
  for _ in $(seq 1 1200); do [ -e /out/outsider-done ] && break; sleep 0.05; done
  exec 3<>"/dev/tcp/${GCE_METADATA_HOST%:*}/${GCE_METADATA_HOST#*:}"
  printf "GET '"$token_path"' HTTP/1.1\r\nHost: %s\r\nMetadata-Flavor: Google\r\nConnection: close\r\n\r\n" "$GCE_METADATA_HOST" >&3
  cat <&3 >/out/prod.txt
' >"$out/with-prod.txt" 2>&1
step with-prod $?
wait
step done 0

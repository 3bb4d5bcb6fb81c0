/**
 * The reaper: what stops the wrapped command and removes the sandbox when with-prod dies without
 * cleaning up (SIGKILL, OOM kill, a crash). Deno cannot ask the kernel for a parent-death signal,
 * so with-prod starts this small POSIX sh program in its own session (immune to the terminal's
 * signals and process-group kills aimed at with-prod) holding the read end of a pipe whose only
 * writer is with-prod. The kernel closes that pipe when with-prod exits, however it exits; the
 * reaper then reads end-of-file and:
 *
 * 1. if the wrapped command is still the process with-prod started (same PID and kernel start
 *    time, so a reused PID is never touched), freezes its whole process tree with SIGSTOP, walking
 *    `/proc` parent links until no new member appears (a frozen process cannot fork), then kills
 *    every member with SIGKILL;
 * 2. removes the sandbox directory.
 *
 * On a normal exit with-prod has already waited for the command and removed the sandbox, so the
 * reaper finds nothing to do. Limits: a process that left the tree (double-forked to init, or
 * reparented before the reaper looked) is not found; if the reaper itself is killed together with
 * with-prod, the sandbox (which holds no credential) is swept by the next with-prod's start and
 * the gate still revokes the session when with-prod's held connection closes.
 * @module
 */

/** The reaper program (POSIX sh; `$1` is the sandbox directory; stdin is the pipe). */
export const REAPER_SCRIPT = `
trap '' INT TERM HUP QUIT PIPE TSTP TTIN TTOU
dir=$1
pid=
start=
IFS=' ' read -r pid start || :
while IFS= read -r _; do :; done
statof() {
  line=
  { IFS= read -r line < "/proc/$1/stat"; } 2>/dev/null || [ -n "$line" ] || return 1
  rest=\${line##*') '}
  set -- $rest
  P=$2
  S=\${20}
}
tree() {
  found=" $1 "
  changed=1
  rounds=0
  while [ "$changed" = 1 ] && [ "$rounds" -lt 64 ]; do
    changed=0
    rounds=$((rounds + 1))
    for d in /proc/[0-9]*; do
      p=\${d#/proc/}
      case $found in *" $p "*) continue ;; esac
      statof "$p" || continue
      case $found in *" $P "*) found="$found$p " ; changed=1 ;; esac
    done
  done
}
case $pid in '' | *[!0-9]*) pid= ;; esac
if [ -n "$pid" ] && [ -n "$start" ] && statof "$pid" && [ "$S" = "$start" ]; then
  i=0
  while [ "$i" -lt 16 ]; do
    tree "$pid"
    before=$found
    for p in $found; do kill -STOP "$p" 2>/dev/null; done
    tree "$pid"
    [ "$found" = "$before" ] && break
    i=$((i + 1))
  done
  for p in $found; do kill -KILL "$p" 2>/dev/null; done
  echo "with-prod: reaper: with-prod ended without cleaning up; killed its command (pid $pid) and its process tree" >&2
fi
if [ -n "$dir" ]; then rm -rf -- "$dir"; fi
`;

/** The shell the reaper runs under. */
export const REAPER_SHELL = "/bin/sh";

/** A started reaper. */
export interface Reaper {
  /** Tells the reaper which process to stop if with-prod dies (`<pid> <start time>`). */
  watch(stamp: string | undefined): Promise<void>;
  /** Closes the pipe: the reaper checks the command (gone by now) and the sandbox, then exits. */
  release(): Promise<void>;
}

/** Starts the reaper for `sandboxDir`; throws if it cannot be started (the caller fails closed). */
export function startReaper(sandboxDir: string): Reaper {
  const child = new Deno.Command(REAPER_SHELL, {
    args: ["-c", REAPER_SCRIPT, "authcalator-with-prod-reaper", sandboxDir],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
    // Its own session: no terminal signals, out of with-prod's process group.
    detached: true,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
  }).spawn();
  child.unref();
  child.status.catch(() => {});
  const writer = child.stdin.getWriter();
  let released = false;
  return {
    async watch(stamp) {
      await writer.write(new TextEncoder().encode(`${stamp ?? ""}\n`));
    },
    async release() {
      if (released) return;
      released = true;
      await writer.close().catch(() => {});
    },
  };
}

#!/usr/bin/env bash
# The README's cluster examples, run for real: a one-node Slurm cluster and GNU parallel.
#
# Runnable by hand (as root, from anywhere: `tests/cluster/run.sh`) and run by .ci/run after the unit
# tests. It
#   1. installs slurmd, slurmctld, slurm-client, munge and parallel from Debian when a command is missing;
#   2. builds alphabet-lstm (Release) into a scratch folder and puts it on PATH;
#   3. starts munged (its own key made with dd, its own socket) and a one-node Slurm cluster (its own
#      slurm.conf, spool, state, log and pid paths, free ports), all in the scratch folder;
#   4. takes each example from README.md (or, for the sweeps, docs/performance.md), between an HTML
#      comment `<!-- cluster-test: NAME -->` and the end of the fenced block after it, and runs it
#      exactly as shown in a folder of its own;
#   5. compares each merged JSON with an unsharded run of the same command (timings apart);
#   6. stops every daemon it started, by PID, and removes the scratch folder, also when a step fails.
# Every wait has a timeout. It prints one line per check and ends with
# "cluster: N passed, N failed"; the exit code is 0 only when every check passed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readme="$repo/README.md"
# The guide that holds the examples the README links to (the sweep on a Slurm array).
guide="$repo/docs/performance.md"
# Seconds allowed for one example's jobs (the machine may be shared), and for a daemon to come up.
job_timeout=${CLUSTER_TEST_JOB_TIMEOUT:-900}
start_timeout=60

passed=0
failed=0
finished=0
started=$SECONDS
pids=()
scratch=""

say() { printf 'cluster: %s\n' "$*"; }
pass() { passed=$((passed + 1)); say "ok   $*"; }
fail() { failed=$((failed + 1)); say "FAIL $*"; }

cleanup() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && [ "$finished" -eq 0 ]; then fail "stopped by a failing step (exit $status)"; fi
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && command -v scancel >/dev/null; then
    timeout 10 scancel --quiet --full "--user=$(id -un)" 2>/dev/null
  fi
  # Daemons in the reverse order of their start, each by the PID this script recorded.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "${pids[i]}" 2>/dev/null
    wait "${pids[i]}" 2>/dev/null
  done
  if [ -n "$scratch" ] && [ -d "$scratch" ]; then
    if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
      for log in "$scratch"/log/*.log; do
        [ -f "$log" ] && { say "--- last lines of $(basename "$log")"; tail -n 15 "$log"; }
      done
    fi
    rm -rf "$scratch"
  fi
  say "wall time $((SECONDS - started)) s"
  say "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] || status=1
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The fenced block that follows `<!-- cluster-test: NAME -->` in the README (else the guide), verbatim.
readme_block() {
  awk -v marker="<!-- cluster-test: $1 -->" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' "$readme" "$guide"
}

# The unsharded form of the alphabet-lstm command in a block: the command's lines joined, what
# GNU parallel adds (its `parallel ... ` prefix and `::: ...` list) removed, and --shard and --json
# dropped, so that it trains every run of the same plan in one process.
unsharded_command() {
  sed -e ':a' -e '/\\$/{N; s/\\\n//; ba' -e '}' |
    grep -E 'alphabet-lstm (experiment|sweep)' | head -n 1 |
    sed -E -e 's/^.*(alphabet-lstm (experiment|sweep))/\1/' -e 's/ :::.*$//' \
      -e 's/--shard +("[^"]*"|[^ ]+)//' -e 's/--json +("[^"]*"|[^ ]+)//' -e 's/ +/ /g'
}

# Two result files, equal but for the lines holding timings ("...Seconds": n).
same_but_timings() {
  diff <(grep -vE '"[A-Za-z]*[sS]econds": ' "$1") <(grep -vE '"[A-Za-z]*[sS]econds": ' "$2") >/dev/null
}

free_port() {
  local port
  for port in $(seq "$1" $(($1 + 200))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  return 1
}

wait_until() { # seconds, description, command... (gives up early when the last daemon started has died)
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then say "timed out after ${seconds}s waiting for $what"; return 1; fi
    if [ ${#pids[@]} -gt 0 ] && ! kill -0 "${pids[-1]}" 2>/dev/null; then say "the daemon died while waiting for $what"; return 1; fi
    sleep 0.5
  done
}

# 1. Packages.
if [ "$(id -u)" -ne 0 ]; then say "must run as root (it starts munged and a Slurm cluster)"; exit 1; fi
missing=()
for cmd in munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client parallel:parallel setpriv:util-linux; do
  command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq </dev/null
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi
# The packages' own services are not ours: none is started here (no systemd in CI), and none is stopped.

scratch=$(mktemp -d -t alphabet-lstm-cluster.XXXXXX)
chmod 0755 "$scratch"
mkdir -p "$scratch"/{bin,log,run,state,spool,examples}

# 2. The program, built once, on PATH as `alphabet-lstm` (jobs inherit PATH from sbatch).
say "building alphabet-lstm (Release)"
dotnet build "$repo/src/AlphabetLstm.Cli" -c Release -o "$scratch/app" -nologo -v q </dev/null >"$scratch/log/build.txt" 2>&1 ||
  { cat "$scratch/log/build.txt"; say "build failed"; exit 1; }
printf '#!/bin/sh\nexec dotnet "%s/app/alphabet-lstm.dll" "$@"\n' "$scratch" >"$scratch/bin/alphabet-lstm"
chmod 0755 "$scratch/bin/alphabet-lstm"
export PATH="$scratch/bin:$PATH"
export PARALLEL_HOME="$scratch/parallel"

# 3. munge: a fresh key, a socket of its own, munged running as the munge user.
munge_dir="$scratch/munge"
mkdir -p "$munge_dir"
dd if=/dev/urandom of="$munge_dir/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$munge_dir"
chmod 0755 "$munge_dir"   # munged wants every folder above its socket searchable by all
chmod 0400 "$munge_dir/munge.key"
socket="$munge_dir/munge.socket"
setpriv --reuid=munge --regid=munge --init-groups \
  munged --foreground --key-file="$munge_dir/munge.key" --socket="$socket" \
  --pid-file="$munge_dir/munged.pid" --seed-file="$munge_dir/munged.seed" \
  --log-file="$munge_dir/munged.log" </dev/null >"$scratch/log/munged.log" 2>&1 &
pids+=($!)
wait_until "$start_timeout" "munged's socket" test -S "$socket"
munge --socket="$socket" -n </dev/null | unmunge --socket="$socket" >/dev/null
say "munged up (pid ${pids[-1]})"

# 4. Slurm: one node, this host, with its CPUs and memory as slurmd sees them.
host=$(hostname -s)
node=$(slurmd -C | head -n 1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host NodeAddr=127.0.0.1/")
ctld_port=$(free_port 6817)
slurmd_port=$(free_port $((ctld_port + 1)))
export SLURM_CONF="$scratch/slurm.conf"
: >"$scratch/plugstack.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=alphabetlstm
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/run/slurmctld.pid
SlurmdPidFile=$scratch/run/slurmd.pid
SlurmctldLogFile=$scratch/log/slurmctld.log
SlurmdLogFile=$scratch/log/slurmd.log
PlugStackConfig=$scratch/plugstack.conf
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
$node
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" </dev/null >>"$scratch/log/slurmctld.out" 2>&1 &
pids+=($!)
wait_until "$start_timeout" "slurmctld" scontrol ping
slurmd -D -N "$host" -f "$SLURM_CONF" </dev/null >>"$scratch/log/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { sinfo -h -n "$host" -o %T | grep -qx idle; }
wait_until "$start_timeout" "node $host to be idle" node_idle
say "slurm up: slurmctld (pid ${pids[-2]}, port $ctld_port), slurmd (pid ${pids[-1]}, port $slurmd_port), $(echo "$node" | grep -oE 'CPUs=[0-9]+')"

# Runs a README example: `$1` names the blocks, the rest are the block names in order; the first
# block is saved as the file named in the second block's sbatch line when there is one.
run_example() { # name, block...
  local name=$1; shift
  local dir="$scratch/examples/$name" t0=$SECONDS
  mkdir -p "$dir"
  for block in "$@"; do
    readme_block "$block" >"$dir/$block.sh"
    if [ ! -s "$dir/$block.sh" ]; then fail "$name: README.md has no block after <!-- cluster-test: $block -->"; return 1; fi
  done
  ( cd "$dir" && timeout "$job_timeout" bash -euo pipefail "$dir/$1.sh" </dev/null >"$dir/run.txt" 2>&1 ) || {
    fail "$name: the README's commands failed (exit $?)"; tail -n 20 "$dir/run.txt"; return 1; }
  say "$name: ran in $((SECONDS - t0)) s"
}

compare_with_unsharded() { # name, merged results, file holding the sharded command
  local name=$1 merged=$2 dir="$scratch/examples/$1"
  local command
  command=$(unsharded_command <"$dir/$3")
  if [ -z "$command" ]; then fail "$name: no alphabet-lstm command in $3"; return 1; fi
  ( cd "$dir" && timeout "$job_timeout" bash -c "$command --json whole.json" </dev/null >"$dir/whole.txt" 2>&1 ) || {
    fail "$name: the unsharded run failed: $command"; tail -n 20 "$dir/whole.txt"; return 1; }
  if [ ! -f "$dir/$merged" ]; then fail "$name: no merged file $merged"; return 1; fi
  if same_but_timings "$dir/$merged" "$dir/whole.json"; then
    pass "$name: merged $merged equals the unsharded run ($command) but for timings"
  else
    fail "$name: merged $merged differs from the unsharded run ($command)"
    diff <(grep -vE '"[A-Za-z]*[sS]econds": ' "$dir/$merged") <(grep -vE '"[A-Za-z]*[sS]econds": ' "$dir/whole.json") | head -n 20
  fi
}

# 5. The examples.
# Slurm: the job script is saved as shards.sh, which the submit block names.
slurm_dir="$scratch/examples/slurm"
mkdir -p "$slurm_dir"
readme_block slurm-script >"$slurm_dir/shards.sh"
if [ -s "$slurm_dir/shards.sh" ] && run_example slurm slurm-submit; then
  if ls "$slurm_dir"/parts/part-*.json >/dev/null 2>&1; then pass "slurm: the array wrote $(ls "$slurm_dir"/parts/part-*.json | wc -l) parts"
  else fail "slurm: the array wrote no parts"; fi
  compare_with_unsharded slurm report/results.json shards.sh
elif [ ! -s "$slurm_dir/shards.sh" ]; then
  fail "slurm: README.md has no block after <!-- cluster-test: slurm-script -->"
fi

# Failure handling: one part lost, the README's rerun block brings back exactly that shard.
if [ -f "$slurm_dir/report/results.json" ] && [ -f "$slurm_dir/parts/part-2.json" ]; then
  rm -f "$slurm_dir/parts/part-2.json"
  mv "$slurm_dir/report/results.json" "$slurm_dir/first-results.json"
  if readme_block slurm-rerun >"$slurm_dir/slurm-rerun.sh" && [ -s "$slurm_dir/slurm-rerun.sh" ]; then
    if ( cd "$slurm_dir" && timeout "$job_timeout" bash -euo pipefail slurm-rerun.sh </dev/null >rerun.txt 2>&1 ); then
      if [ -f "$slurm_dir/parts/part-2.json" ] && same_but_timings "$slurm_dir/report/results.json" "$slurm_dir/first-results.json"; then
        pass "slurm: the rerun block ran the missing shard 2 again and the merge is the same"
      else
        fail "slurm: after the rerun block, part-2.json is missing or the merge differs"
      fi
    else
      fail "slurm: the rerun block failed"; tail -n 20 "$slurm_dir/rerun.txt"
    fi
  else
    fail "slurm: README.md has no block after <!-- cluster-test: slurm-rerun -->"
  fi
fi

# A 2 x 2 sweep through the same array: the job script is saved as sweep.sh.
sweep_dir="$scratch/examples/sweep"
mkdir -p "$sweep_dir"
readme_block sweep-script >"$sweep_dir/sweep.sh"
if [ -s "$sweep_dir/sweep.sh" ] && run_example sweep sweep-submit; then
  compare_with_unsharded sweep sweep/sweep.json sweep.sh
  [ -f "$sweep_dir/sweep/sweep.md" ] && cat "$sweep_dir/sweep/sweep.md"
elif [ ! -s "$sweep_dir/sweep.sh" ]; then
  fail "sweep: README.md and docs/performance.md have no block after <!-- cluster-test: sweep-script -->"
fi

# A 2 x 2 sweep of one text through the same array: the job script is saved as text-sweep.sh.
text_dir="$scratch/examples/text-sweep"
mkdir -p "$text_dir"
readme_block text-sweep-script >"$text_dir/text-sweep.sh"
if [ -s "$text_dir/text-sweep.sh" ] && run_example text-sweep text-sweep-submit; then
  compare_with_unsharded text-sweep text-sweep/sweep.json text-sweep.sh
  [ -f "$text_dir/text-sweep/sweep.md" ] && grep '^|' "$text_dir/text-sweep/sweep.md"
elif [ ! -s "$text_dir/text-sweep.sh" ]; then
  fail "text-sweep: README.md and docs/performance.md have no block after <!-- cluster-test: text-sweep-script -->"
fi

if run_example parallel parallel; then
  compare_with_unsharded parallel report/results.json parallel.sh
fi

finished=1
[ "$failed" -eq 0 ]

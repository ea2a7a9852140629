#!/usr/bin/env bash
# Starts one worker group for align-coordinator with OpenMPI's mpirun across the
# nodes of a hostfile: one align-worker rank per slot (per GPU). Without Slurm;
# under Slurm use deploy/slurm/align-workers.sbatch.
#
#   deploy/mpi/launch-workers.sh -f deploy/mpi/hostfile coordinator-host:50051
#   ALIGN_TOKEN_FILE=/etc/align/worker.tokens deploy/mpi/launch-workers.sh \
#       -f hosts -n 8 coordinator-host:50051 --max-jobs 1
#
# Options:
#   -f FILE   OpenMPI hostfile (deploy/mpi/hostfile.example); default: this host only
#   -n N      ranks per node (default: every slot of the hostfile, 1 without one)
#   -h        this help
# Then the coordinator address (or ALIGN_COORDINATOR), then any further
# align-worker options (--group-name, --max-jobs, --tls-ca).
#
# Environment:
#   ALIGN_TOKEN_FILE   token file with a worker:<token> line, same path on every node
#   ALIGN_WORKER_BIN   align-worker to run, same path on every node (default: from PATH)
#   ALIGN_MPIRUN_ARGS  extra mpirun options, e.g. "--mca btl_tcp_if_include ib0"
# Set and forwarded to every rank with -x: NCCL_*, UCX_*, PYTORCH_CUDA_ALLOC_CONF,
# CUDA_VISIBLE_DEVICES, PATH, LD_LIBRARY_PATH and the proxy variables. mpirun
# starts remote ranks through ssh, which does not carry the local environment.
#
# The group serves until it is stopped (Ctrl-C or SIGTERM to this script ends
# every rank) or --max-jobs jobs ended. Exit status: align-worker's; 2 means the
# coordinator refused the group's token or protocol version (or bad options).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

hostfile=""
per_node=""
while getopts "f:n:h" opt; do
  case "$opt" in
    f) hostfile="$OPTARG" ;;
    n) per_node="$OPTARG" ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

coordinator="${ALIGN_COORDINATOR:-}"
if [[ $# -gt 0 && "$1" != -* ]]; then coordinator="$1"; shift; fi
if [[ -z "$coordinator" ]]; then
  echo "launch-workers: give the coordinator address (HOST:PORT) or set ALIGN_COORDINATOR" >&2
  exit 2
fi
if [[ -n "$per_node" && ! "$per_node" =~ ^[1-9][0-9]*$ ]]; then
  echo "launch-workers: -n wants a positive number of ranks per node, got '$per_node'" >&2
  exit 2
fi

# Ranks in all: N per node, or the hostfile's slots (slots=K, 1 when absent).
mpirun_args=()
if [[ -n "$hostfile" ]]; then
  [[ -r "$hostfile" ]] || { echo "launch-workers: cannot read hostfile $hostfile" >&2; exit 2; }
  read -r nodes slots < <(awk '
      { sub(/#.*/, "") }
      NF == 0 { next }
      { n++; s = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { sub(/^slots=/, "", $i); s = $i } total += s }
      END { print n + 0, total + 0 }' "$hostfile")
  (( nodes > 0 )) || { echo "launch-workers: $hostfile lists no hosts" >&2; exit 2; }
  mpirun_args+=(--hostfile "$hostfile")
  if [[ -n "$per_node" ]]; then ranks=$((nodes * per_node)); else ranks=$slots; fi
else
  ranks="${per_node:-1}"
fi
if [[ -n "$per_node" ]]; then
  mpirun_args+=(--map-by "ppr:$per_node:node")
fi
mpirun_args+=(-np "$ranks")
# align-worker sizes its torch thread pool as the host's cores / ranks on the
# host; binding each rank to one core (OpenMPI's default for 2 ranks or fewer)
# would squeeze that pool onto a single core.
mpirun_args+=(--bind-to none)
# OpenMPI refuses to run as root unless told; for root users only.
if [[ "$(id -u)" == 0 ]]; then mpirun_args+=(--allow-run-as-root); fi

while IFS= read -r name; do
  mpirun_args+=(-x "$name")
done < <(compgen -e | grep -E '^(NCCL_|UCX_)|^(PYTORCH_CUDA_ALLOC_CONF|CUDA_VISIBLE_DEVICES|PATH|LD_LIBRARY_PATH|http_proxy|https_proxy|grpc_proxy|no_proxy|no_grpc_proxy)$' || true)

if [[ -n "${ALIGN_MPIRUN_ARGS:-}" ]]; then
  read -r -a extra <<< "$ALIGN_MPIRUN_ARGS"
  mpirun_args+=("${extra[@]}")
fi

worker_args=(--coordinator "$coordinator")
if [[ -n "${ALIGN_TOKEN_FILE:-}" ]]; then worker_args+=(--token-file "$ALIGN_TOKEN_FILE"); fi
worker_args+=("$@")

cmd=(mpirun "${mpirun_args[@]}" "${ALIGN_WORKER_BIN:-align-worker}" "${worker_args[@]}")
printf 'launch-workers: %d rank(s):' "$ranks"
printf ' %q' "${cmd[@]}"
printf '\n'
exec "${cmd[@]}"

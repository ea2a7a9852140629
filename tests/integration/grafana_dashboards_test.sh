#!/usr/bin/env bash
# The Grafana dashboards in deploy/grafana against real data: a real
# align-coordinator, a real Prometheus started from deploy/prometheus/prometheus.yml
# (scrape interval shortened, target rewritten), a 2-rank worker group
# (`mpirun -np 2 align-worker --coordinator ADDR`) and alignctl. One DPO job
# runs to the end (so the job duration panels have a finished job) and a
# curriculum job with evaluations is running when every query of every panel
# of every dashboard goes through Prometheus's /api/v1/query, with Grafana's
# variables substituted ($job -> the running job's id, $train_job -> the
# finished job's, which evaluated during training, $eval_job -> an
# evaluate job's that compared the model with the finished job's checkpoint
# (with the tiny models of make_tiny_models), $__rate_interval and
# $__interval -> 30s, $__range -> 5m). A query fails when Prometheus reports an
# error or when it returns nothing but NaN (no series, or quantiles of nothing):
# a panel that shows "No data" while training runs is a broken panel.
# The dashboards' template variable queries (label_values) and their wiring to
# the provisioned datasource uid are checked too.
#
#   grafana_dashboards_test.sh COORDINATOR_BIN ALIGNCTL_BIN WORKER_BIN TINY_MODEL_DIR DEPLOY_DIR WORK_DIR MAKE_TINY_MODELS_BIN
set -euo pipefail
lib="$(cd "$(dirname "$0")" && pwd)/lib.sh"

coordinator_bin=$1
alignctl=$2
worker_bin=$3
model=$(cd "$4" && pwd)
deploy=$(cd "$5" && pwd)
work=$6
make_tiny_models=$7
golden=$(dirname "$model")
prometheus_bin=${PROMETHEUS_BIN:-/usr/bin/prometheus}
dashboards_dir=$deploy/grafana/dashboards
rate_interval=30s
range=5m

rm -rf "$work"
mkdir -p "$work"
cd "$work"
source "$lib"

for tool in jq curl python3 mpirun promtool "$prometheus_bin"; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (deploy/install-deps.sh installs it)"
done

# ---- the files alone: JSON, datasource wiring, ids, variables ----------------
datasource_uid=$(sed -n 's/^ *uid: *\([A-Za-z0-9._-]*\) *$/\1/p' "$deploy/grafana/provisioning/datasources/prometheus.yaml")
[[ -n "$datasource_uid" ]] || fail "no datasource uid in deploy/grafana/provisioning/datasources/prometheus.yaml"
grep -q 'type: prometheus' "$deploy/grafana/provisioning/datasources/prometheus.yaml" || fail "the provisioned datasource is not Prometheus"
grep -q '^ *path: ' "$deploy/grafana/provisioning/dashboards/align.yaml" || fail "the dashboard provider names no path"

# Every panel, rows' nested panels included; rows themselves hold no queries.
panels_filter='def panels: (.panels // [])[] | ., panels; [panels | select(.type != "row")]'
dashboards=("$dashboards_dir"/*.json)
for want in training cluster jobs evaluation; do
  [[ -f "$dashboards_dir/$want.json" ]] || fail "no $want.json in $dashboards_dir"
done
declare -A seen_uids=()
for file in "${dashboards[@]}"; do
  name=$(basename "$file")
  jq -e . "$file" > /dev/null 2>&1 || fail "$name is not valid JSON"
  uid=$(jq -r '.uid // empty' "$file")
  [[ -n "$uid" ]] || fail "$name has no uid (provisioned dashboards need a stable one for links)"
  [[ -z "${seen_uids[$uid]:-}" ]] || fail "$name and ${seen_uids[$uid]} share the uid $uid"
  seen_uids[$uid]=$name
  dups=$(jq -r '[def panels: (.panels // [])[] | ., panels; panels | .id] | group_by(.) | map(select(length > 1) | .[0]) | .[]' "$file")
  [[ -z "$dups" ]] || fail "$name: panel ids used twice: $dups"
  problems=$(jq -r --arg uid "$datasource_uid" "$panels_filter"' | .[] |
      (if (.title // "") == "" then "panel \(.id) has no title" else empty end),
      (if (.datasource.uid // "") != $uid then "panel \"\(.title)\": datasource uid \(.datasource.uid // "none"), want \($uid)" else empty end),
      (if ((.targets // []) | length) == 0 then "panel \"\(.title)\" has no queries" else empty end),
      ((.targets // [])[] | select((.expr // "") == "" or ((.datasource.uid // $uid) != $uid)) |
        "panel \"\(.title)\" query \(.refId): empty or on another datasource")' "$file")
  [[ -z "$problems" ]] || fail "$name: $problems"
  # Variables the queries use must be defined by the dashboard or by Grafana.
  defined=$(jq -r '.templating.list[]?.name' "$file")
  used=$(jq -r "$panels_filter"' | .[].targets[].expr' "$file" | { grep -o '\$[{]\?[A-Za-z_][A-Za-z0-9_]*' || true; } | tr -d '${' | sort -u)
  for var in $used; do
    case "$var" in __rate_interval | __interval | __range) continue ;; esac
    grep -qx "$var" <<< "$defined" || fail "$name uses \$$var but defines no such variable"
  done
done
say "${#dashboards[@]} dashboards wired to datasource $datasource_uid"

# ---- the system: coordinator, Prometheus, a worker group -------------------
write_tokens gd

"$alignctl" make-synthetic --model "$model" --pairs 48 --heldout 8 --tokens 8 --out data > /dev/null

start_coordinator

# The shipped config, scraping every second and pointed at this coordinator.
sed -e 's/^\( *scrape_interval:\).*/\1 1s/' -e 's/^\( *evaluation_interval:\).*/\1 1s/' \
  -e "s/coordinator-host:9464/127.0.0.1:$metrics_port/" "$deploy/prometheus/prometheus.yml" > prometheus.yml
grep -q "127.0.0.1:$metrics_port" prometheus.yml && grep -q 'scrape_interval: 1s' prometheus.yml \
  || fail "deploy/prometheus/prometheus.yml no longer has scrape_interval and the coordinator-host:9464 target this test rewrites"
promtool check config prometheus.yml > promtool.log 2>&1 || fail "promtool rejects the config: $(cat promtool.log)"
start_prometheus prometheus.yml
prometheus_url=http://127.0.0.1:$prometheus_port

start_workers
say "coordinator on $ALIGN_COORDINATOR, metrics :$metrics_port, prometheus :$prometheus_port"

submit() { submit_dpo "$1" "$2" 2 2 "${3:-}"; }  # submit NAME STEPS EXTRA_YAML: prints the job id

# Instant query; prints the response. Fails the test only on transport errors.
query() { curl -sf --data-urlencode "query=$1" "$prometheus_url/api/v1/query"; }
# 0 when the response is a success holding at least one value that is not NaN.
has_data() {
  jq -e '.status == "success" and
         ((if .data.resultType == "scalar" then [.data.result[1]] else [.data.result[].value[1]] end)
          | map(select(. != "NaN")) | length > 0)' > /dev/null 2>&1
}

# ---- a finished job, then a curriculum job that is still running ---------
# The finished job evaluates during training (evaluate_every) on the tiny
# models' full folder (its unet/ is $model's): the "over steps" panels' data.
"$make_tiny_models" "$golden" models
printf 'a red cube\na blue ball\n' > prompts.txt
model="$PWD/models/sdxl" submit finished 4 "evaluate_every: 2
evaluation: {prompts: prompts.txt, seeds: 2, rewards: [{reward: clipscore, model: models/pickscore}],
             sampling: {inference_steps: 2, resolution: 32, batch_size: 2}}" > finished.id
finished=$(cat finished.id)
timeout 240 "$alignctl" wait "$finished" > wait-finished.out || fail "$finished did not succeed: $(cat wait-finished.out)"
say "$finished succeeded"

# An evaluation of the model against the finished job's last checkpoint: the
# evaluation dashboard's figures.
cat > evaluate.yaml <<YAML
name: evaluation
type: evaluate
model: models/sdxl
output: runs/evaluation
device: cpu
evaluate: {prompts: prompts.txt, seeds: 2, checkpoints: [{name: base}, {name: trained, unet: runs/finished/checkpoint-4}],
           rewards: [{reward: clipscore, model: models/pickscore}], bootstrap: {resamples: 50},
           sampling: {inference_steps: 2, resolution: 32, batch_size: 2}}
YAML
evaluation=$("$alignctl" submit evaluate.yaml | tail -n 1)
timeout 240 "$alignctl" wait "$evaluation" > wait-evaluation.out || fail "$evaluation did not succeed: $(cat wait-evaluation.out)"
say "$evaluation succeeded"

# Far more steps than the queries below take: the job must still be running
# (its rates non-zero) when the last panel is queried, however slow the
# machine; it is cancelled at the end.
running=$(submit curriculum 100000 "curriculum: {stages: 2, steps_per_stage: 3}")
# Polled through alignctl, as an operator would: it also keeps unary RPCs
# (GetJob, ListEvents) in the RPC panels' rate window.
ready=
deadline=$((SECONDS + 240))
while ((SECONDS < deadline)); do
  state=$("$alignctl" status "$running" --json | jq -r .state)
  [[ "$state" == JOB_STATE_RUNNING || "$state" == JOB_STATE_QUEUED ]] || fail "$running is $state: $("$alignctl" status "$running")"
  events=$("$alignctl" events "$running")
  if grep -q 'stage 1 of 2 starts' <<< "$events" &&
     query "align_eval_heldout_loss{job=\"$running\"}" | has_data &&
     query "align_curriculum_stage{job=\"$running\"} >= 1" | has_data &&
     query "align_job_duration_seconds_count{state=\"succeeded\"}" | has_data &&
     query "align_eval_diversity{job=\"$evaluation\"}" | has_data; then
    ready=1
    break
  fi
  sleep 0.5
done
[[ -n "$ready" ]] || fail "$running did not reach curriculum stage 1 with an evaluation scraped by Prometheus within 240 s"
say "$running is in curriculum stage 1 and evaluated; querying every panel"

# ---- template variables ------------------------------------------------------
for file in "${dashboards[@]}"; do
  name=$(basename "$file")
  while read -r variable; do
    var=$(jq -r .name <<< "$variable")
    definition=$(jq -r '.query.query // .query' <<< "$variable")
    [[ "$definition" =~ ^label_values\(([A-Za-z_:][A-Za-z0-9_:]*),\ *([A-Za-z_][A-Za-z0-9_]*)\)$ ]] \
      || fail "$name: variable $var: unsupported query '$definition' (this test evaluates label_values(metric, label))"
    values=$(curl -sf -G --data-urlencode "match[]=${BASH_REMATCH[1]}" \
      "$prometheus_url/api/v1/label/${BASH_REMATCH[2]}/values" | jq -r '.data[]')
    [[ -n "$values" ]] || fail "$name: variable $var ($definition) has no values"
    if [[ "$var" == job ]]; then
      for id in "$finished" "$running"; do
        grep -qx "$id" <<< "$values" || fail "$name: variable job ($definition) lacks $id: $values"
      done
    fi
    if [[ "$var" == train_job ]]; then
      grep -qx "$finished" <<< "$values" || fail "$name: variable train_job ($definition) lacks $finished: $values"
    fi
    if [[ "$var" == eval_job ]]; then
      grep -qx "$evaluation" <<< "$values" || fail "$name: variable eval_job ($definition) lacks $evaluation: $values"
    fi
  done < <(jq -c '.templating.list[]? | select(.type == "query")' "$file")
done

# ---- every query of every panel ----------------------------------------------
# The RPC panels rate unary RPCs over the last 30 s: an operator's alignctl
# keeps polling while the panels are read, however long the queries take.
while true; do
  "$alignctl" status "$running" > /dev/null 2>&1 || true
  sleep 1
done &
background_pids+=($!)
failures=()
queries=0
for file in "${dashboards[@]}"; do
  name=$(basename "$file")
  # (title, refId, expr) triples, shell-quoted by jq: any expression survives.
  targets=()
  eval "$(jq -r "$panels_filter"' | .[] | .title as $title | .targets[] |
      "targets+=(\($title | @sh) \(.refId | @sh) \(.expr | @sh))"' "$file")"
  for ((i = 0; i < ${#targets[@]}; i += 3)); do
    title=${targets[i]}
    ref=${targets[i + 1]}
    expr=${targets[i + 2]}
    concrete=$expr
    concrete=${concrete//'${train_job}'/$finished}
    concrete=${concrete//'$train_job'/$finished}
    concrete=${concrete//'${eval_job}'/$evaluation}
    concrete=${concrete//'$eval_job'/$evaluation}
    concrete=${concrete//'${job}'/$running}
    concrete=${concrete//'$job'/$running}
    concrete=${concrete//'${__rate_interval}'/$rate_interval}
    concrete=${concrete//'$__rate_interval'/$rate_interval}
    concrete=${concrete//'${__interval}'/$rate_interval}
    concrete=${concrete//'$__interval'/$rate_interval}
    concrete=${concrete//'${__range}'/$range}
    concrete=${concrete//'$__range'/$range}
    if [[ "$concrete" == *'$'* ]]; then
      failures+=("$name: panel \"$title\" ($ref): a variable this test does not know: $expr")
      continue
    fi
    queries=$((queries + 1))
    ok=
    response=
    # A scrape or two behind is not a failure: retry for a few seconds.
    query_deadline=$((SECONDS + 15))
    while true; do
      response=$(query "$concrete" || true)
      if has_data <<< "$response"; then
        ok=1
        break
      fi
      ((SECONDS < query_deadline)) || break
      sleep 0.5
    done
    if [[ -z "$ok" ]]; then
      failures+=("$name: panel \"$title\" ($ref): $concrete -> ${response:-no response}")
    fi
  done
done
if [[ ${#failures[@]} -gt 0 ]]; then
  printf '  %s\n' "${failures[@]}" >&2
  fail "${#failures[@]} of $queries dashboard queries returned no data"
fi
say "all $queries queries of ${#dashboards[@]} dashboards returned data"

"$alignctl" cancel "$running" --reason "dashboards checked" > /dev/null || true
say "PASS"

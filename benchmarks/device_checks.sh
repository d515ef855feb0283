#!/usr/bin/env bash
# The checks only a many-core GPU host can make, in one call of at most BUDGET_S seconds.
#
# Two lanes run side by side on disjoint cores, so one short lease gives both figures:
#   cores 0-8   benchmarks/real_hosts.py: calibration here, then the recommended deployments
#               of held-out networks on at most 4 and 8 ranks (each rank pinned to a core of
#               its own, the launcher on core 0), fresh processes, interleaved sides;
#   cores 9-15  benchmarks/gpu_study.py: the seed paper's CIFAR-10 study on the GPU (resumable),
#               then pytest -m gpu (the compiled path never syncs) if time is left.
# Each lane prints as it goes into OUT, so a lane stopped by its timeout still reports.
# The real-hosts rows therefore ran beside the GPU study (on other cores, sharing the memory
# system): the report says so.
#
#   benchmarks/device_checks.sh OUT DATA [BUDGET_S]
#     OUT   folder for the logs and results (created)
#     DATA  the CIFAR-10 archive (cifar10-jpg.tar.gz)
set -u
OUT=${1:?OUT folder}
DATA=${2:?the CIFAR-10 archive}
BUDGET_S=${3:-560}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cores=$(nproc --all)
if [ "$cores" -lt 16 ]; then
  echo "device_checks: needs 16 cores (found $cores): the lanes' core sets would overlap" >&2
  exit 2
fi
start=$(date +%s)
{ lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|NUMA node|L3)' || true
  lscpu -e=CPU,CORE,SOCKET 2>/dev/null || true   # which logical CPUs share a physical core
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PY" -c "import torch, platform; print('torch', torch.__version__, platform.processor())"
} >"$OUT/machine.txt" 2>&1

lane_cpu() {
  timeout -k 10 $((BUDGET_S - 15)) taskset -c 0-8 "$PY" benchmarks/real_hosts.py \
    --ks 4,8 --networks dp,lanes,chain,torchvision:resnet18,er --runs 15 --processes 3 \
    --json "$OUT/real_hosts.json" >"$OUT/real_hosts.log" 2>&1
  echo "real_hosts exit $? after $(($(date +%s) - start)) s" >>"$OUT/real_hosts.log"
}

lane_gpu() {
  local study_s=$((BUDGET_S - 150))
  taskset -c 9-15 "$PY" benchmarks/gpu_study.py --data "$DATA" --out runs/gpu-study \
    --budget-s "$study_s" >"$OUT/gpu_study.log" 2>&1
  echo "gpu_study exit $? after $(($(date +%s) - start)) s" >>"$OUT/gpu_study.log"
  cp runs/gpu-study/results.json "$OUT/gpu_study_results.json" 2>/dev/null
  cp runs/gpu-study/results.csv "$OUT/gpu_study_results.csv" 2>/dev/null
  local left=$((BUDGET_S - 10 - ($(date +%s) - start)))
  if [ "$left" -gt 40 ]; then
    timeout -k 5 "$left" taskset -c 9-15 "$PY" benchmarks/gpu_study.py --gpu-tests \
      >"$OUT/gpu_tests.log" 2>&1
    echo "gpu tests exit $? after $(($(date +%s) - start)) s" >>"$OUT/gpu_tests.log"
  else
    echo "gpu tests skipped: ${left} s left" >"$OUT/gpu_tests.log"
  fi
}

lane_cpu &
cpu_pid=$!
lane_gpu &
gpu_pid=$!
wait "$cpu_pid" "$gpu_pid"
tail -n 20 "$OUT"/real_hosts.log "$OUT"/gpu_study.log "$OUT"/gpu_tests.log
echo "device_checks: $(($(date +%s) - start)) s"

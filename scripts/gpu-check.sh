#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (run from the repository root, outside a
# container). What a GPU host needs is in docs/deploy.md ("GPU hosts"); this proves it:
#   0. the NVIDIA driver (nvidia-smi) and the CUDA version it supports (>= 12.8, what the
#      nvidia/cuda 12.8.1 base of the CUDA image asks for), the CUDA 12 / cuDNN 9 libraries;
#   1. the service starts with TOKLIP_DEVICE=cuda (a CUDA provider that does not load is then a
#      start-up error, not a fallback) on the fixture bundles and becomes ready;
#   2. GET /v1/models and GET /v2/models/{id} report the CUDA execution provider for every model,
#      and nvidia-smi lists the service process on the GPU;
#   3. SIGTERM drains it and it exits 0;
#   4. the HTTP and client tests run with their servers on CUDA (TOKLIP_TEST_DEVICE=cuda):
#      golden parity, every route and input form, batching, overload, worker crash;
#   5. with --image IMAGE: the NVIDIA Container Toolkit gives containers the GPU
#      (docker run --gpus all IMAGE nvidia-smi -L), and the image itself serves the fixture
#      bundle on CUDA and drains on docker stop;
#   6. with --k8s: kubectl sees nodes that offer the resource nvidia.com/gpu (the NVIDIA device
#      plugin runs there).
#
# Usage: scripts/gpu-check.sh [--device cuda|cuda:N] [--models DIR] [--no-tests] [--image IMAGE] [--k8s]
# Needs: node >= 20.9, node_modules installed (npm ci), the NVIDIA driver, and the CUDA 12
# runtime + cuDNN 9 libraries on the loader path (what the nvidia/cuda:12.x-cudnn-runtime image
# has). onnxruntime-node's CUDA provider is installed here when missing (a download from NuGet:
# needs network, or copy node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ from a machine
# that has it). --image needs docker; --k8s needs kubectl with a context. Writes logs and a
# summary under $OUT (default: a temporary folder). TOKLIP_MIN_CUDA overrides the 12.8 minimum.
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda
models=test/fixtures/bundles
tests=1
image=
k8s=0
min_cuda=${TOKLIP_MIN_CUDA:-12.8}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --no-tests) tests=0; shift ;;
    --image) image=$2; shift 2 ;;
    --k8s) k8s=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
summary="$out/gpu-check-summary.txt"
: >"$summary"
log() { printf '[gpu-check %(%H:%M:%S)T] %s\n' -1 "$*" | tee -a "$summary"; }
fail() { log "FAIL: $*"; exit 1; }

# The provider the service must report: cpu only for a dry run of this script without a GPU.
expected_provider=cuda
[[ $device == cpu ]] && expected_provider=cpu

# --- 0. Machine -------------------------------------------------------------------------------
log "node $(node --version), device $device, models $models, logs in $out"
if [[ $expected_provider == cuda ]]; then
  command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver on this machine"
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader | tee -a "$summary"
  driver_cuda=$(nvidia-smi | grep -o 'CUDA Version: [0-9.]*' | awk '{print $3}' || true)
  if [[ -z $driver_cuda ]]; then
    log "warning: nvidia-smi does not say which CUDA version the driver supports"
  elif [[ $(printf '%s\n%s\n' "$min_cuda" "$driver_cuda" | sort -V | head -1) == "$min_cuda" ]]; then
    log "driver supports CUDA $driver_cuda (>= $min_cuda)"
  else
    log "warning: the driver supports CUDA $driver_cuda < $min_cuda: the CUDA image (nvidia/cuda $min_cuda) needs a newer driver (R570 or later) unless NVIDIA's forward compatibility covers this datacenter driver"
  fi
  IFS=: read -r -a lib_dirs <<<"${LD_LIBRARY_PATH:-}"
  for lib in libcudart.so.12 libcublasLt.so.12 libcudnn.so.9; do
    found=0
    ldconfig -p | grep -q "$lib" && found=1
    for dir in "${lib_dirs[@]}"; do [[ -n $dir && -e $dir/$lib ]] && found=1; done
    [[ $found == 1 ]] || log "warning: $lib not found by ldconfig or in LD_LIBRARY_PATH; the CUDA provider needs it"
  done
fi
[[ -d node_modules ]] || fail "node_modules missing: run npm ci first"
ort_dir=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if [[ $expected_provider == cuda && ! -f $ort_dir/libonnxruntime_providers_cuda.so ]]; then
  log "installing onnxruntime-node's CUDA 12 provider (ONNXRUNTIME_NODE_INSTALL=cuda12)"
  ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
    || fail "could not install the CUDA provider (no network?); copy $ort_dir from a machine that has it"
fi

# --- 1. Start the service on the device -------------------------------------------------------
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
server_log="$out/service.log"
log "starting the service: TOKLIP_DEVICE=$device on 127.0.0.1:$port"
TOKLIP_DEVICE=$device TOKLIP_HOST=127.0.0.1 TOKLIP_PORT=$port TOKLIP_MODELS_DIR=$models \
  TOKLIP_LOG_LEVEL=info node --import tsx src/http/server.ts >"$server_log" 2>&1 &
server_pid=$!
cleanup() { if kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi; }
trap cleanup EXIT

# --- 2. Ready, and on the expected provider -------------------------------------------------
node --input-type=module -e '
  const [port, pid, expected] = process.argv.slice(1);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 300_000;
  const alive = () => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
  for (;;) {
    const status = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (!alive()) { console.error("the service exited before it was ready"); process.exit(1); }
    if (Date.now() > deadline) { console.error(`not ready after 300 s (last status ${status})`); process.exit(1); }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const models = await (await fetch(`${base}/v1/models`)).json();
  let ok = true;
  for (const m of models.data) {
    const v2 = await (await fetch(`${base}/v2/models/${m.id}`)).json();
    console.log(`${m.id}: /v1/models execution_provider=${m.execution_provider}, /v2 parameters.execution_provider=${v2.parameters.execution_provider}`);
    ok &&= m.execution_provider === expected && v2.parameters.execution_provider === expected;
  }
  if (!ok || models.data.length === 0) { console.error(`expected every model on ${expected}`); process.exit(1); }
' "$port" "$server_pid" "$expected_provider" 2>&1 | tee -a "$summary" \
  || { tail -30 "$server_log" | tee -a "$summary"; fail "service not ready on $expected_provider"; }
grep -o '"msg":"ready[^"]*"' "$server_log" | tee -a "$summary" || true
if [[ $expected_provider == cuda ]]; then
  # The service process (a worker thread of it holds the sessions) must hold GPU memory.
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader | tee -a "$summary"
  nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -qw "$server_pid" \
    || log "warning: nvidia-smi does not list pid $server_pid (in a container or VM it may show another pid)"
fi

# --- 3. Drain on SIGTERM ----------------------------------------------------------------------
kill -TERM "$server_pid"
stop_rc=0
wait "$server_pid" || stop_rc=$?
[[ $stop_rc == 0 ]] || { tail -20 "$server_log" | tee -a "$summary"; fail "exit code $stop_rc after SIGTERM"; }
log "SIGTERM: drained and exited 0"

# --- 4. The HTTP and client tests with their servers on the device ----------------------------
if [[ $tests == 1 ]]; then
  log "HTTP and client tests with TOKLIP_TEST_DEVICE=$device"
  mapfile -t files < <(find test/http test/clients -name '*.test.ts' | sort)
  set +e
  TOKLIP_TEST_DEVICE=$device node --import tsx --test "${files[@]}" >"$out/http-tests.log" 2>&1
  tests_rc=$?
  set -e
  grep -E '^# (tests|pass|fail|skipped)' "$out/http-tests.log" | tee -a "$summary"
  [[ $tests_rc == 0 ]] || { grep -E '^not ok|^    not ok' "$out/http-tests.log" | tee -a "$summary"; fail "HTTP tests on $device"; }
fi
# --- 5. The container path: NVIDIA Container Toolkit and the image itself ---------------------
if [[ -n $image ]]; then
  command -v docker >/dev/null || fail "--image needs docker"
  docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia \
    || command -v nvidia-ctk >/dev/null \
    || log "warning: docker lists no nvidia runtime and nvidia-ctk is not installed (NVIDIA Container Toolkit)"
  gpu_flags=(--gpus all)
  [[ $device == cpu ]] && gpu_flags=()
  if [[ $expected_provider == cuda ]]; then
    docker run --rm "${gpu_flags[@]}" --entrypoint nvidia-smi "$image" -L 2>&1 | tee -a "$summary" \
      || fail "docker run --gpus all $image nvidia-smi failed: the NVIDIA Container Toolkit does not give containers the GPU"
  fi
  cport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  models_abs=$(cd "$models" && pwd)
  log "starting $image: TOKLIP_DEVICE=$device, $models mounted at /models, port 127.0.0.1:$cport"
  cid=$(docker run -d "${gpu_flags[@]}" -p "127.0.0.1:$cport:8080" -v "$models_abs:/models:ro" \
    -e "TOKLIP_DEVICE=$device" "$image") || fail "docker run $image failed"
  cleanup() {
    if kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
    docker rm -f "$cid" >/dev/null 2>&1 || true
  }
  node --input-type=module -e '
    const [port, expected] = process.argv.slice(1);
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 300_000;
    for (;;) {
      const status = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (Date.now() > deadline) { console.error(`container not ready after 300 s (last status ${status})`); process.exit(1); }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const models = await (await fetch(`${base}/v1/models`)).json();
    for (const m of models.data) console.log(`container: ${m.id}: execution_provider=${m.execution_provider}`);
    if (models.data.length === 0 || !models.data.every((m) => m.execution_provider === expected)) process.exit(1);
  ' "$cport" "$expected_provider" 2>&1 | tee -a "$summary" \
    || { docker logs "$cid" 2>&1 | tail -30 | tee -a "$summary"; fail "$image not serving on $expected_provider"; }
  docker stop --time 40 "$cid" >/dev/null
  container_rc=$(docker inspect --format '{{.State.ExitCode}}' "$cid")
  [[ $container_rc == 0 ]] || fail "the container exited with $container_rc after docker stop"
  log "container: served on $expected_provider, drained on docker stop (exit 0)"
fi

# --- 6. Kubernetes: the NVIDIA device plugin advertises nvidia.com/gpu ------------------------
if [[ $k8s == 1 ]]; then
  command -v kubectl >/dev/null || fail "--k8s needs kubectl"
  gpu_nodes=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.allocatable.nvidia\.com/gpu}{"\n"}{end}' \
    | awk '$2 > 0')
  [[ -n $gpu_nodes ]] || fail "no node offers nvidia.com/gpu: install the NVIDIA device plugin (or the GPU Operator)"
  while read -r name count; do log "kubernetes: node $name offers nvidia.com/gpu: $count"; done <<<"$gpu_nodes"
fi

log "PASS: service on $expected_provider, drained on SIGTERM$([[ $tests == 1 ]] && echo ', HTTP tests passed')$([[ -n $image ]] && echo ", image $image on $expected_provider")$([[ $k8s == 1 ]] && echo ', nvidia.com/gpu schedulable')"

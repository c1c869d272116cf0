# syntax=docker/dockerfile:1
#
# toklip-serve image, two variants from one file (docs/deploy.md):
#   docker build -t toklip-serve:cuda .                          # CUDA 12 + cuDNN 9 (default)
#   docker build -t toklip-serve:cpu --build-arg VARIANT=cpu .   # CPU only, Debian slim
# Models are mounted at /models by default; --build-arg MODELS=baked copies ./models into the image.
# scripts/build-image.sh builds the CPU variant offline with buildah from local base images
# passed through NODE_IMAGE and CPU_BASE.

# Images every stage is built from. Global ARGs so that FROM lines can use them.
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim
ARG CUDA_BASE=docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG CPU_BASE=docker.io/library/debian:bookworm-slim
# cuda | cpu: which runtime base and which onnxruntime-node binaries the final image gets.
ARG VARIANT=cuda
# mounted | baked: whether ./models is copied into the image.
ARG MODELS=mounted

# ---------------------------------------------------------------------------------------------
# build: compiles TypeScript to dist/ with the full (dev) dependency set.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
# deps-cpu: production node_modules with only the linux-x64 native binaries.
FROM ${NODE_IMAGE} AS deps-cpu
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
# onnxruntime-node ships every platform's binaries (~300 MB); sharp's @img packages are picked
# by npm per platform, but drop any other platform that slipped in (e.g. linuxmusl).
RUN set -eu; \
    ort=node_modules/onnxruntime-node/bin/napi-v6; \
    find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +; \
    find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +; \
    if [ -d node_modules/@img ]; then \
      find node_modules/@img -mindepth 1 -maxdepth 1 -name 'sharp-*' \
        ! -name 'sharp-linux-x64' ! -name 'sharp-libvips-linux-x64' -exec rm -rf {} +; \
    fi; \
    test -f "$ort/linux/x64/onnxruntime_binding.node"

# deps-cuda: the same plus the CUDA 12 execution provider, which onnxruntime-node's install
# script downloads (NuGet package Microsoft.ML.OnnxRuntime.Gpu.Linux) because npm cannot hold it.
# The TensorRT provider it also fetches is dropped: TensorRT is not in the base image and the
# service uses the CUDA provider only.
FROM deps-cpu AS deps-cuda
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && cd node_modules/onnxruntime-node/bin/napi-v6/linux/x64 \
 && test -f libonnxruntime_providers_cuda.so \
 && test -f libonnxruntime_providers_shared.so \
 && rm -f libonnxruntime_providers_tensorrt.so

# ---------------------------------------------------------------------------------------------
# models-*: what ends up in /models.
FROM ${NODE_IMAGE} AS models-mounted
RUN mkdir -p /models

FROM ${NODE_IMAGE} AS models-baked
COPY models/ /models/

# ---------------------------------------------------------------------------------------------
# Runtime bases. The node binary comes from NODE_IMAGE: no npm, no compiler in the final image.
FROM ${CPU_BASE} AS base-cpu
FROM ${CUDA_BASE} AS base-cuda

# Aliases so that COPY --from can follow the build args.
FROM deps-${VARIANT} AS deps
FROM models-${MODELS} AS models

FROM base-${VARIANT} AS runtime
ARG VARIANT
COPY --from=build /usr/local/bin/node /usr/local/bin/node
# A fixed numeric uid/gid so that Kubernetes' runAsNonRoot can verify it (docker/k8s).
RUN groupadd --gid 10001 toklip \
 && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin toklip
WORKDIR /app
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --chown=0:0 package.json ./
COPY --chown=0:0 docker/healthcheck.mjs ./docker/healthcheck.mjs
# The `toklip` command (dataset jobs, docs/datasets.md): the package's bin, on the PATH.
COPY --chown=0:0 bin/toklip.mjs ./bin/toklip.mjs
RUN ln -s /app/bin/toklip.mjs /usr/local/bin/toklip
COPY --from=models --chown=0:0 /models /models

# Defaults; every TOKLIP_* variable is documented in README.md. TOKLIP_DEVICE=auto uses CUDA
# when the provider loads (the cuda variant on a GPU node) and falls back to CPU with a log line.
# GLIBC_TUNABLES: image buffers reuse mapped pages instead of page-faulting on fresh ones
# (src/engine/allocator.ts).
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456 \
    TOKLIP_HOST=0.0.0.0 \
    TOKLIP_PORT=8080 \
    TOKLIP_MODELS_DIR=/models \
    TOKLIP_DEVICE=auto \
    TOKLIP_LOG_LEVEL=info
LABEL org.opencontainers.image.title="toklip-serve" \
      org.opencontainers.image.description="TokLIP tokenizer and embedding service (${VARIANT} variant)" \
      org.opencontainers.image.licenses="Apache-2.0"

USER 10001:10001
EXPOSE 8080
# SIGTERM starts the service's drain; Kubernetes and compose give it the grace period.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]
CMD ["node", "dist/http/server.js"]

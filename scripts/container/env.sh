# shellcheck shell=bash
# Sourced by the container scripts: puts every piece of buildah/podman state under one
# git-ignored folder and writes the two configuration files the tools need on machines
# without a Docker engine (vfs storage, runc runtime, rlimits podman can set here).
#
#   PLS_CONTAINER_WORKDIR   scratch folder (default: <repo>/.work/containers)
#
# Nothing here touches the host's own /etc/containers or /var/lib/containers.

PLS_REPO_ROOT="${PLS_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PLS_CONTAINER_WORKDIR="${PLS_CONTAINER_WORKDIR:-$PLS_REPO_ROOT/.work/containers}"
mkdir -p "$PLS_CONTAINER_WORKDIR"/{storage/root,storage/run,logs,tmp}
PLS_CONTAINER_WORKDIR="$(cd "$PLS_CONTAINER_WORKDIR" && pwd)"

# Local base image: Debian bookworm (debootstrap) + system python3.11 + pip.
PLS_BASE_IMAGE="${PLS_BASE_IMAGE:-localhost/pls-base:bookworm-py311}"
PLS_DEBIAN_IMAGE="${PLS_DEBIAN_IMAGE:-localhost/debian-bookworm:base}"
PLS_DEBIAN_MIRROR="${PLS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

cat >"$PLS_CONTAINER_WORKDIR/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$PLS_CONTAINER_WORKDIR/storage/run"
graphroot = "$PLS_CONTAINER_WORKDIR/storage/root"
EOF

cat >"$PLS_CONTAINER_WORKDIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=4096:8192", "nproc=4096:8192"]

[engine]
runtime = "runc"
EOF

export CONTAINERS_STORAGE_CONF="$PLS_CONTAINER_WORKDIR/storage.conf"
export CONTAINERS_CONF="$PLS_CONTAINER_WORKDIR/containers.conf"
# chroot isolation: no nested user namespaces needed for RUN steps.
export BUILDAH_ISOLATION=chroot
# Docker image format: the OCI format drops HEALTHCHECK; Docker/ECS read docker-format images.
export BUILDAH_FORMAT=docker
export TMPDIR="$PLS_CONTAINER_WORKDIR/tmp"
export PLS_REPO_ROOT PLS_CONTAINER_WORKDIR PLS_BASE_IMAGE PLS_DEBIAN_IMAGE PLS_DEBIAN_MIRROR

pls_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pls_image_exists() { podman image exists "$1" 2>/dev/null; }

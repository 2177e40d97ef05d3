#!/usr/bin/env bash
# Makes the local base image the smoke build uses in place of python:3.11-slim, on machines
# that cannot pull from a registry: Debian bookworm from debootstrap, plus the system
# python3.11, pip and venv that BentoML's generated Dockerfile expects, and this machine's
# certificate bundle (HTTPS leaves through a proxy with its own CA).
#
# Built once, then reused: it does nothing when the image is already in the local storage.
# `--force` rebuilds it.
set -euo pipefail
# shellcheck source=scripts/container/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

force=0
[[ "${1:-}" == "--force" ]] && force=1

if [[ $force == 0 ]] && pls_image_exists "$PLS_BASE_IMAGE"; then
    pls_log "base image $PLS_BASE_IMAGE present; reusing it"
    exit 0
fi

host_bundle=/etc/ssl/certs/ca-certificates.crt
cert_env=(
    --change "ENV SSL_CERT_FILE=$host_bundle"
    --change "ENV PIP_CERT=$host_bundle"
    --change "ENV REQUESTS_CA_BUNDLE=$host_bundle"
    --change "ENV CURL_CA_BUNDLE=$host_bundle"
)

if [[ $force == 1 ]] || ! pls_image_exists "$PLS_DEBIAN_IMAGE"; then
    rootfs="$PLS_CONTAINER_WORKDIR/rootfs-bookworm"
    rm -rf "$rootfs"
    pls_log "debootstrap bookworm (minbase) into $rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$PLS_DEBIAN_MIRROR" \
        >"$PLS_CONTAINER_WORKDIR/logs/debootstrap.log" 2>&1 || {
        tail -20 "$PLS_CONTAINER_WORKDIR/logs/debootstrap.log" >&2
        exit 1
    }
    rm -f "$rootfs"/var/cache/apt/archives/*.deb
    # The proxy CA: as a local CA (update-ca-certificates keeps it) and in the bundle itself.
    mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    fi
    [[ -f $host_bundle ]] && cp "$host_bundle" "$rootfs$host_bundle"
    pls_log "importing the root filesystem as $PLS_DEBIAN_IMAGE"
    tar -C "$rootfs" -c . | podman import -q "${cert_env[@]}" - "$PLS_DEBIAN_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi

pls_log "adding python3.11, pip and venv -> $PLS_BASE_IMAGE"
ctr="$(buildah from -q --pull-never "$PLS_DEBIAN_IMAGE")"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah run "$ctr" -- sh -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-pip python3-venv ca-certificates
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    python3 --version
' >"$PLS_CONTAINER_WORKDIR/logs/base-image.log" 2>&1 || {
    tail -20 "$PLS_CONTAINER_WORKDIR/logs/base-image.log" >&2
    exit 1
}
buildah config \
    --env PIP_BREAK_SYSTEM_PACKAGES=1 \
    --env SSL_CERT_FILE=$host_bundle \
    --env PIP_CERT=$host_bundle \
    --env REQUESTS_CA_BUNDLE=$host_bundle \
    --env CURL_CA_BUNDLE=$host_bundle \
    --label org.opencontainers.image.description="Debian bookworm + python3.11 (local base for the PLS smoke build)" \
    "$ctr"
buildah commit -q --rm "$ctr" "$PLS_BASE_IMAGE" >/dev/null
trap - EXIT
pls_log "base image ready: $PLS_BASE_IMAGE"

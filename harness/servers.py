"""Real servers on free loopback ports: the model server with the packaged model (deploy/llm_server.py's command
line, as startup.sh runs it), a deployment's loader CLI (on its own Milvus Lite file, or through its running
API), the API under a real uvicorn process (`python -m server`), and for several replicas a throwaway
PostgreSQL cluster and an embedded Milvus server.

tests/integration/conftest.py builds its fixtures from these, and bench/ scripts start their own servers with
them (and a browser with harness/browser.py); living here, outside both, neither imports the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.settings import COURSE_DIR, PROJECT_ROOT

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen, seconds: float, headers: dict | None = None) -> None:
    """Until `url` answers below 500; fails at once if the process exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def base_env(**extra: str) -> dict[str, str]:
    """This process' environment without the app's own settings (a developer's .env values never leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "MILVUS_", "API_", "MENTOR_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class LLMServer:
    """The model server with the packaged SmolLM2 (in LLM_QUANT weights), started as startup.sh starts it.

    `options` are Settings fields (llm_server, llm_parallel, llm_n_threads, …); a developer's .env is not read."""

    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    options: dict[str, Any] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # appended to the command, e.g. a benchmark's own flags
    env: dict[str, str] = field(default_factory=dict)  # over the harness's environment (LLAMA_CPP_LIB_PATH, …)

    @property
    def url(self) -> str:
        """The OpenAI base URL, …/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        from core.factories import llm_model_path
        from core.settings import Settings
        from deploy.llm_server import command, niced

        settings = Settings(_env_file=None, **self.options)  # type: ignore[call-arg]
        cmd = niced(settings, command(settings, llm_model_path(settings), "127.0.0.1", self.port) + self.extra_args)
        env = {**base_env(), **self.env}
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115 (the log stays open for the process)
        wait_http(self.url + "/models", self.proc, 120)

    def completions(self) -> int:
        """Completion requests served so far, read from the log: llama-server logs each task it starts on a
        slot, llama-cpp-python's uvicorn an access line per request."""
        text = self.log.read_text(errors="replace")
        return text.count("launch_slot_") + text.count("POST /v1/chat/completions")

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)


@dataclass
class Deployment:
    """Everything one API process needs: its database, its conversations and its environment."""

    root: Path
    env: dict[str, str]

    @classmethod
    def create(cls, root: Path, llm_url: str, **extra: str) -> Deployment:
        """A deployment whose database and conversations live under `root`, answering with `llm_url`.

        Its answers are the model's (ANSWER_STYLE=generative, unless `extra` says otherwise): the serving tests
        and the load benchmarks exercise the LLM path; the packaged default, quotes, is tested by test_honesty."""
        env = base_env(
            ANSWER_STYLE="generative",
            MILVUS_URI=str(root / "db" / "mentor.db"),
            CHECKPOINT_DB=str(root / "conversations.sqlite"),
            LLM_BASE_URL=llm_url,
            INGEST_ROOTS=json.dumps([str(COURSE_DIR), str(root)]),
        )
        env.update(extra)
        # The instructor's answers: inside the deployment's own ingest root, never the project's course_materials/
        own = [r for r in json.loads(env["INGEST_ROOTS"]) if Path(r).resolve() != COURSE_DIR.resolve()]
        env.setdefault("INSTRUCTOR_ANSWERS_DIR", str(Path(own[0] if own else root) / "instructor_answers"))
        return cls(root, env)

    def run_cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", "loaders", *args], env=self.env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip


@dataclass
class ApiServer:
    url: str
    deployment: Deployment
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    extra_env: dict[str, str] | None = None
    log_level: str = "warning"  # "info" adds uvicorn's access log

    @classmethod
    def on_free_port(cls, deployment: Deployment, log: Path) -> ApiServer:
        """An API for `deployment`; its loader CLI then finds the running server (and ingests through it)."""
        port = free_port()
        deployment.env["API_PORT"] = str(port)
        return cls(f"http://127.0.0.1:{port}", deployment, port, log)

    def start(self) -> None:
        env = {**self.deployment.env, **(self.extra_env or {})}
        self.proc = subprocess.Popen(
            [PY, "-m", "server", "--port", str(self.port), "--log-level", self.log_level],
            cwd=PROJECT_ROOT, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        key = (self.extra_env or {}).get("MENTOR_API_KEY")
        wait_http(self.url + "/", self.proc, 120, headers={"X-API-Key": key} if key else None)

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)


# ---- external state for several API replicas: PostgreSQL and a Milvus server --------------------
def postgres_bin_dir() -> Path | None:
    """Where initdb/pg_ctl are: Debian keeps them in /usr/lib/postgresql/<major>/bin, off PATH (newest wins)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    majors = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return majors[-1].parent if majors else None


@dataclass
class PostgresServer:
    """A throwaway cluster (initdb) in a temporary folder on a free port, run by pg_ctl. PostgreSQL refuses
    to run as root, so as root it runs as the `postgres` user that Debian's package creates."""

    datadir: Path
    port: int
    bindir: Path

    @classmethod
    def create(cls, bindir: Path) -> PostgresServer:
        """A new cluster, not under pytest's tmp_path: that is private to root, and the server runs as postgres."""
        server = cls(Path(tempfile.mkdtemp(prefix="mentor-pg-")), free_port(), bindir)
        server.init()
        return server

    @property
    def url(self) -> str:
        """The database URL the settings take (CHECKPOINT_URI, RECORD_MANAGER_URL)."""
        return f"postgresql://mentor@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise RuntimeError(f"{cmd[0]} failed: {result.stderr[-2000:]}")

    def init(self) -> None:
        """initdb: user `mentor`, trust authentication on loopback (a test cluster)."""
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir / "data"), "-U", "mentor",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        """Start on 127.0.0.1 only, its socket in its own folder; waits until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir / "data"), "-o", options,
                  "-l", str(self.datadir / "postgres.log"), "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop; mode "immediate" is a crash: connections drop at once, nothing is shut down cleanly."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir / "data"), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop (if running) and delete the cluster."""
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)


@dataclass
class MilvusServer:
    """The Milvus 2.3 server embedded in the PyPI package `milvus` (no BM25: the dense fallback path).

    Its embedded etcd gets its own loopback ports: by default it takes 2379/2380, so a second server on the
    machine (another checkout's tests, a benchmark) would wait for them for ever."""

    base_dir: Path
    port: int = field(default_factory=free_port)
    server: object = None
    etcd_ports: tuple[int, int] = (0, 0)

    @property
    def url(self) -> str:
        """MILVUS_URI for this server."""
        return f"http://127.0.0.1:{self.port}"

    def _etcd_config(self) -> Path:
        if not self.etcd_ports[0]:
            self.etcd_ports = (free_port(), free_port())
        client, peer = (f"http://127.0.0.1:{p}" for p in self.etcd_ports)
        config = self.base_dir / "embedEtcd.yaml"
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config.write_text(f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
                          f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
                          f"initial-cluster: default={peer}\n")  # fmt: skip
        return config

    def start(self) -> None:
        """Start (or restart, on the same folder and ports); waits for /healthz (about 10-30 s)."""
        import milvus

        server = milvus.MilvusServer()
        server.set_base_dir(str(self.base_dir))
        server.listen_port = self.port
        config = self._etcd_config()
        server.config.set("etcd_port", self.etcd_ports[0])
        previous = os.environ.get("ETCD_CONFIG_PATH")
        os.environ["ETCD_CONFIG_PATH"] = str(config)  # read by Milvus (etcd.config.path); the child inherits it
        try:
            server.start()
        finally:
            if previous is None:
                os.environ.pop("ETCD_CONFIG_PATH", None)
            else:
                os.environ["ETCD_CONFIG_PATH"] = previous
        self.server = server

    def stop(self) -> None:
        """Stop the server; its data stays in base_dir for a restart."""
        if self.server is not None:
            self.server.stop()  # type: ignore[attr-defined]
            self.server = None

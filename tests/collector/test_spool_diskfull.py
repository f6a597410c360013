"""A full disk under the store, for real: a tiny tmpfs mounted in a private mount namespace
(``unshare -rm``, no root needed). The collector says clearly that the disk is full, keeps the
round in the spool on another disk, and writes it once there is room again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support.servers import DATA, PageServer

VLLM_PAGE = (DATA / "vllm-cpu-live.prom").read_text()
N = 415


def can_mount_tmpfs(tmp_path: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    cmd = ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {probe}"]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def test_disk_full_is_a_clear_error_and_the_round_waits(tmp_path: Path) -> None:
    if not can_mount_tmpfs(tmp_path):
        pytest.skip("unprivileged user and mount namespaces (unshare -rm) are not available here")
    store_dir, spool_dir = tmp_path / "store", tmp_path / "spool"
    store_dir.mkdir()
    with PageServer() as srv:
        config = tmp_path / "memmoat.toml"
        config.write_text(
            f'[storage]\npath = "store/m.duckdb"\nspool_dir = "spool"\n'
            f'[[targets]]\nname = "engine-a"\nurl = "{srv.set("/metrics", VLLM_PAGE)}"\nkind = "vllm"\n'
        )
        collect = f"{sys.executable} -m memmoat --config {config} collect --once"
        # Inside the namespace: a 3 MB disk for the store; one round fits, then the disk is filled.
        script = (
            f"mount -t tmpfs -o size=3m tmpfs {store_dir} && {collect} && "
            f"(dd if=/dev/zero of={store_dir}/filler bs=64k 2>/dev/null; true) && {collect}"
        )
        full = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120)
        assert full.returncode == 0, full.stderr
        assert full.stdout.splitlines() == [
            f"scraped 1 target(s), 0 failed, {N} samples written",
            "scraped 1 target(s), 0 failed, 0 samples written",
        ]
        assert f"the disk holding {store_dir / 'm.duckdb'} is full" in full.stderr
        assert "No space left on device" in full.stderr and "wait in the spool" in full.stderr
        assert "Traceback" not in full.stderr
        assert len(list(spool_dir.glob("*.round"))) == 1  # the round is safe on the other disk
        # Out of the namespace the tiny disk is gone: the store folder is empty and roomy again.
        assert not list(store_dir.iterdir())
        again = subprocess.run(collect.split(), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == f"scraped 1 target(s), 0 failed, {2 * N} samples written"
    con = duckdb.connect(str(store_dir / "m.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT ts) FROM samples").fetchall() == [(2 * N, 2)]
    finally:
        con.close()
    assert not list(spool_dir.glob("*.round"))

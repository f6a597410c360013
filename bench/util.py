"""Small helpers: one-core pinning, /proc readings, table printing, the store's bytes per sample."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb

CLK_TCK = os.sysconf("SC_CLK_TCK")


def pin(cpu: int | None = None) -> int:
    """Pin this process (and the threads it starts later) to one core; returns the core."""
    cores = sorted(os.sched_getaffinity(0))
    chosen = cpu if cpu is not None and cpu in cores else cores[-1]
    os.sched_setaffinity(0, {chosen})
    return chosen


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def samples_bytes(db: Path) -> tuple[int, float]:
    """(samples, bytes per sample) of the samples table as stored: the blocks the file frees when
    the table is dropped, measured on a copy."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.duckdb"
        shutil.copyfile(db, copy)
        wal = Path(str(db) + ".wal")
        if wal.exists():
            shutil.copyfile(wal, Path(str(copy) + ".wal"))
        con = duckdb.connect(str(copy))
        try:
            con.execute("CHECKPOINT")
            n = int(con.execute("SELECT count(*) FROM samples").fetchall()[0][0])
            used, block = con.execute("SELECT used_blocks, block_size FROM pragma_database_size()").fetchall()[0]
            con.execute("DROP TABLE samples")
            con.execute("CHECKPOINT")
            left = con.execute("SELECT used_blocks FROM pragma_database_size()").fetchall()[0][0]
        finally:
            con.close()
    return n, (int(used) - int(left)) * int(block) / max(n, 1)


def table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("measure", "result", "target", "verdict")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)

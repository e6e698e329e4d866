"""CPU seconds used by processes, to say where the time of a run went."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_named(word: str, parent: int | None = None) -> list[int]:
    """Processes whose parent is ``parent`` (this one by default) and whose command has ``word``."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and word in cmd:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds each watched process spent between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def stop(self, wall: float) -> dict[str, str]:
        """Each process's share of one core over ``wall`` real seconds, e.g. ``0.93``."""
        return {
            f"cpu_{name}": f"{(cpu_seconds(pid) - self._before[name]) / wall:.2f}"
            for name, pid in self._pids.items()
        }

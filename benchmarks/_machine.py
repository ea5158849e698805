"""Machine and library facts printed with every benchmark, and pinning to one core."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def pin_one_core() -> int | None:
    """Run this process on one CPU (Linux); returns the CPU, or None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def cpu_model() -> str:
    """The CPU model name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` ("absent" if not installed)."""
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "absent"
    return out


def machine(*packages: str) -> dict[str, Any]:
    """CPU, core count, OS, Python and library versions, as a JSON-able dict."""
    return {
        "cpu": cpu_model(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
        "cpus_total": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions("mead", "numpy", "scipy", *packages),
    }

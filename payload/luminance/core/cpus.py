"""How many CPUs this job may use: what HTCondor granted, not what the machine has.

HTCondor sets OMP_NUM_THREADS (and PYTHON_CPU_COUNT) to the slot's request_cpus; CPU affinity and
a cgroup CPU quota can restrict further. The smallest of these wins, so a 1-CPU slot on a
64-core worker decodes one photo at a time.
"""

import math
import os
from typing import Mapping, Optional

__all__ = ["available_cpus"]


def _positive_int(text: Optional[str]) -> Optional[int]:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 1 else None


def _cgroup_quota(root: str = "/sys/fs/cgroup") -> Optional[int]:
    """CPUs allowed by a cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`, rounded up; None if unlimited."""
    try:
        with open(os.path.join(root, "cpu.max")) as stream:
            quota, period = (stream.read().split() + ["100000"])[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as stream:
            quota_us = int(stream.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as stream:
            period_us = int(stream.read())
        return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus(environ: Mapping[str, str] = os.environ, cgroup_root: str = "/sys/fs/cgroup") -> int:
    """The number of CPUs to decode photos on (at least 1)."""
    limits = [_positive_int(environ.get(name)) for name in ("OMP_NUM_THREADS", "PYTHON_CPU_COUNT")]
    try:
        limits.append(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        limits.append(os.cpu_count())
    limits.append(_cgroup_quota(cgroup_root))
    return min([n for n in limits if n] or [1])

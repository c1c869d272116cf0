"""Wall and CPU time of a stage (CPU time is the fairer figure on a shared machine). CPU time
counts this process's threads and the child processes it waited for (the onnxruntime-node
scripts that encode token ids)."""
from __future__ import annotations

import resource
import time
from typing import Dict


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.time(), _cpu()

    def read(self) -> Dict[str, float]:
        return {"wall_s": round(time.time() - self.wall, 1), "cpu_s": round(_cpu() - self.cpu, 1)}

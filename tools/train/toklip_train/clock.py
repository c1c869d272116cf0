"""Wall and CPU time of a stage (CPU time is the fairer figure on a shared machine)."""
from __future__ import annotations

import time
from typing import Dict


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.time(), time.process_time()

    def read(self) -> Dict[str, float]:
        return {"wall_s": round(time.time() - self.wall, 1), "cpu_s": round(time.process_time() - self.cpu, 1)}

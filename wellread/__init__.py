"""wellread: pre-train, distil and compare compact BERTs (Turc et al., 2019) on a laptop CPU."""
import os
import sys
import time
from pathlib import Path


def cpu_quota() -> float | None:
    """The CPUs this container may use (cgroup v2 cpu.max, or v1's CFS quota); None where unlimited or unknown."""
    cgroup = Path("/sys/fs/cgroup")
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        return quota / int((cgroup / "cpu" / "cpu.cfs_period_us").read_text()) if quota > 0 else None
    except (OSError, ValueError, ZeroDivisionError):
        return None


def others_busy(seconds: float = 0.1) -> float:
    """How many CPUs other processes kept busy over `seconds` (Linux /proc; 0.0 where it cannot be read)."""
    def ticks():  # (all CPUs' ticks, their busy ticks: all but idle and iowait, this process's user + system ticks)
        cpus = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return sum(cpus), sum(cpus) - cpus[3] - cpus[4], int(own[11]) + int(own[12])
    try:
        total, used, mine = ticks()
        time.sleep(seconds)
        total2, used2, mine2 = ticks()
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, (used2 - used) - (mine2 - mine)) / max(total2 - total, 1) * (os.cpu_count() or 1)


# The kit's own choice is marked, so a process it starts (a notebook's kernel, a worker) decides afresh for itself,
# while a policy the user set is kept everywhere.
KIT_CHOICE = "WELLREAD_OMP_WAIT_POLICY"
BUSY = "other processes kept"  # how the reason for sleeping at once beside busy work begins (a lesson looks for it)


def idle_threads() -> tuple[str, str]:
    """(OMP_WAIT_POLICY, why) for torch's OpenMP threads here: "default" lets an idle thread spin a moment before it
    sleeps, "PASSIVE" makes it sleep at once, which is right only where other busy work shares the cores."""
    if os.environ.get("OMP_WAIT_POLICY") and os.environ.get(KIT_CHOICE) != os.environ["OMP_WAIT_POLICY"]:
        return os.environ["OMP_WAIT_POLICY"], "OMP_WAIT_POLICY is set"
    quota = cpu_quota()
    if quota is not None and quota < (os.cpu_count() or 1):
        return "PASSIVE", f"this container may use {quota:g} of the {os.cpu_count()} CPUs it sees (shared cores)"
    busy = others_busy()
    if busy >= 0.5:
        return "PASSIVE", f"{BUSY} {busy:.1f} CPUs busy as the kit loaded (shared cores)"
    return "default", "the cores are this machine's own"


# Must be decided before torch is imported, which is why it lives here. Where another busy process shares the cores
# (Binder's quota of CPUs, a test suite's two workers), spinning threads took a training step 2x to 10x longer, so they
# sleep at once there; on a laptop's own cores sleeping at once makes each small step wait for its threads to wake:
# Tiny's fine-tuning took 1.3x as long on a 2-core AVX2 laptop (docs/performance.md).
IDLE_THREADS = idle_threads()  # (policy, why), as decided when the kit loaded
if IDLE_THREADS[0] == "PASSIVE":
    os.environ["OMP_WAIT_POLICY"] = os.environ[KIT_CHOICE] = "PASSIVE"
elif KIT_CHOICE in os.environ:  # a parent's choice, not this process's
    if os.environ.pop(KIT_CHOICE) == os.environ.get("OMP_WAIT_POLICY"):
        del os.environ["OMP_WAIT_POLICY"]
# The Rust tokenizers on one core: a training step's batch gains nothing from more, and set, it keeps them quiet when
# a process forks. (The test suite lifts it for its one long tokenization, while its other worker waits.)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# nbformat (under plotly's notebook renderer and papermill) imports jsonschema, which builds rfc3987-syntax's 38 Lark
# grammars at import, 2.5 s of every lesson's first cell on a 2-core laptop, for URI format checks nothing here runs.
sys.modules.setdefault("rfc3987_syntax", None)

__version__ = "0.6.0"  # packs are shared within a minor version: a new minor version is a new set of cache keys

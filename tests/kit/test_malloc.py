import subprocess
import sys

import pytest

from nubo.kit.malloc import keep_top_pad

# Frees 8 MiB in small blocks fifty times in a thread, as an analysis in a job's thread
# does, and prints the page faults per round.
CHURN = """
import resource, sys, threading
from nubo.kit.malloc import keep_top_pad
assert keep_top_pad(int(sys.argv[1])) == (int(sys.argv[1]) > 0)
faults = []
def churn():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        blocks = [bytes(32 * 1024) for _ in range(256)]
        del blocks
    faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
thread = threading.Thread(target=churn)
thread.start()
thread.join()
print(faults[0])
"""


def _faults_per_round(top_pad: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHURN, str(top_pad)], check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_top_pad_keeps_a_threads_freed_memory_mapped_between_rounds():
    without, kept = _faults_per_round(0), _faults_per_round(16 << 20)
    assert without > 500  # 8 MiB is 2,048 pages; most come back from the kernel each round
    assert kept < without / 5


def test_no_top_pad_changes_nothing():
    assert keep_top_pad(0) is False

"""Memory must not grow with the columns a file carries but the analysis does not use."""

import json
import subprocess
import sys

from nubo.bleed.simulate import simulate_flight, write_flight

# Anonymous memory only: the CSV reader memory-maps the file, and mapped page-cache pages
# count toward RSS without being memory the process holds on to. Sampled from a thread.
_PROBE = """
import json, sys, threading, time
from pathlib import Path
from nubo.bleed.read import read_flight
def anon():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
peak, done = [anon()], threading.Event()
def sample():
    while not done.is_set():
        peak.append(anon())
        time.sleep(0.002)
before = anon()
t = threading.Thread(target=sample)
t.start()
read_flight(sys.argv[1])
done.set()
t.join()
print(json.dumps({"before": before, "after": max(peak)}))
"""


def _peak_growth_mb(path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], check=True, capture_output=True, text=True
    )
    r = json.loads(out.stdout)
    return r["after"] - r["before"]


def test_unused_columns_do_not_raise_peak_memory(tmp_path):
    df = simulate_flight(seed=5, duration_h=1.0, rate_hz=4, extra_columns=800)
    wide = write_flight(df, tmp_path / "wide.csv")
    narrow = write_flight(df.select(df.columns[:32]), tmp_path / "narrow.csv")
    extra_mb = (wide.stat().st_size - narrow.stat().st_size) / 2**20
    growth = _peak_growth_mb(wide) - _peak_growth_mb(narrow)
    assert extra_mb > 60
    assert growth < 0.5 * extra_mb, (growth, extra_mb)

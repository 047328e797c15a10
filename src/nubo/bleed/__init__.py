"""Bleed-air health analysis: pure functions over flight data files and Polars frames.

Nothing in this package touches HTTP, a database or application settings; the job wrapper
feeds it a local file path (and the aircraft's trend state) and persists what comes back.
"""

from nubo.bleed.errors import FlightDataError
from nubo.bleed.sniff import detect_format

__all__ = ["FlightDataError", "detect_format"]

"""The latency trace: events in order, stage durations that add up, the diagnostics string, rolling medians."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sim2art_core.runtime.health import inference_status
from sim2art_core.runtime.latency import EVENTS, STAGES, LatencyTrace, format_breakdown, parse_breakdown
from sim2art_core.runtime.stats import Stats

sys.path.insert(0, str(Path(__file__).parent))
from test_health import BASE  # the healthy snapshot of the health tests


def test_stages_chain_the_events_so_they_add_up_to_the_total():
    assert [s[1] for s in STAGES] == list(EVENTS[:-1]) and [s[2] for s in STAGES] == list(EVENTS[1:])
    trace = LatencyTrace(stamp_ns=5, transport_s=0.01)
    for i, event in enumerate(EVENTS):
        trace = trace.mark(event, 100.0 + i * i * 0.01)  # uneven steps
    d = trace.durations()
    assert math.isclose(sum(d[s[0]] for s in STAGES), d["node total"])
    assert math.isclose(d["node total"], (len(EVENTS) - 1) ** 2 * 0.01)
    assert d["keyframe"] == pytest.approx((9 - 4) * 0.01)  # decoded (i=2) -> completed (i=3)


def test_mark_replaces_a_repeated_event_and_rejects_unknown_ones():
    trace = LatencyTrace().mark("submitted", 1.0).mark("submitted", 2.0).mark("started", 2.5)
    assert trace.time_of("submitted") == 2.0 and trace.durations() == {"worker wait": 0.5}
    assert trace.time_of("published") is None
    with pytest.raises(ValueError, match="unknown latency event"):
        trace.mark("arived")


def test_breakdown_string_round_trips_in_stage_order():
    medians = {"node total": 0.4, "estimate": 0.3123, "intake queue": 0.001, "transport": 0.012}
    text = format_breakdown(medians)
    assert text == "intake queue 1.0 | estimate 312.3 | transport 12.0 | node total 400.0"
    assert parse_breakdown(text) == {"intake queue": 1.0, "estimate": 312.3, "transport": 12.0, "node total": 400.0}
    assert parse_breakdown("") == {} and format_breakdown({}) == ""


def test_stats_timing_medians_cover_the_recent_window():
    stats = Stats(timing_window=4)
    for v in (10.0, 1.0, 2.0, 3.0, 4.0):  # 10.0 falls out of the window
        stats.timing("estimate", v)
    stats.timing("fuse", 1.0)
    stats.timing("fuse", 2.0)
    assert stats.timing_medians() == {"estimate": 2.5, "fuse": 1.5}


def test_inference_status_shows_the_breakdown_and_skipped_windows():
    s = replace(BASE, timings={"estimate": 0.25, "node total": 0.3}, counts={"windows_skipped_busy": 7})
    values = inference_status(s).values
    assert values["latency breakdown (ms, median)"] == "estimate 250.0 | node total 300.0"
    assert values["windows skipped (busy)"] == 7

"""The node's /diagnostics rules as a pure function of a snapshot (no rclpy)."""

from __future__ import annotations

from dataclasses import replace

from sim2art_core.runtime.health import ERROR, OK, WARN, HealthSnapshot, node_health

BASE = HealthSnapshot(
    counts={}, values={}, last_error="", rates={"color": 30.0, "synced": 30.0}, ages={},
    totals={"color": 100, "synced": 100}, active_inputs=("color", "depth", "info"), color_topic="/camera/color",
    sync_slop_s=0.02, sync_misses=0, sync_queued=3, frame_queue=0, pose_source="builtin", sync_backend="builtin",
    frames_in_window=2, num_frames=4, estimator="Estimator", estimator_error="", device="cpu", inferences=0,
    pending_inferences=0, windows_dropped=0, inference_busy=False,
)  # fmt: skip
LIVE = {"color": 0.1, "depth": 0.1, "info": 0.1, "synced": 0.1}


def _levels(s):
    return {st.name: (st.level, st.message) for st in node_health(s)}


def test_all_ok_while_frames_are_accepted():
    s = replace(BASE, ages={**LIVE, "keyframes": 0.2})
    levels = _levels(s)
    assert levels["inputs"] == (OK, "receiving") and levels["window"] == (OK, "waiting for keyframes")
    assert levels["inference"] == (OK, "idle")


def test_inputs_warn_names_what_is_missing():
    assert _levels(BASE)["inputs"] == (WARN, "no colour images on /camera/color")
    s = replace(BASE, ages={"color": 0.1, "depth": 0.1, "info": 9.0, "synced": 9.0})
    assert _levels(s)["inputs"] == (WARN, "colour arrives but nothing synchronises: no info")
    s = replace(BASE, ages={"color": 0.1, "depth": 0.1, "info": 0.1, "synced": None})
    assert "stamps differ by more than 0.02 s" in _levels(s)["inputs"][1]


def test_window_warns_when_frames_arrive_and_none_is_accepted():
    # keyframes earlier, but for 10 s every frame was refused (e.g. stamps not increasing)
    s = replace(
        BASE,
        ages={**LIVE, "keyframes": 10.0, "refused": 0.05},
        counts={"keyframes": 40, "frames_rejected_stamp_not_increasing": 300},
        values={"last_refusal": "stamp_not_increasing"},
    )
    level, msg = _levels(s)["window"]
    assert level == WARN and "none is accepted for 10.0 s (last: stamp_not_increasing)" in msg
    values = {st.name: st.values for st in node_health(s)}["window"]
    assert values["rejected: stamp_not_increasing"] == 300
    # refusals long ago, keyframes now: fine again
    s = replace(s, ages={**LIVE, "keyframes": 0.1, "refused": 10.0})
    assert _levels(s)["window"][0] == OK


def test_window_shows_time_jumps_and_resets():
    s = replace(BASE, counts={"time_jumps": 2, "resets": 1})
    values = {st.name: st.values for st in node_health(s)}["window"]
    assert values["time jumps"] == 2 and values["resets"] == 1


def test_window_shows_keyframes_held_for_an_estimate_in_flight():
    s = replace(BASE, counts={"keyframes_held_busy": 7}, values={"keyframe_hold_ms": 42.5})
    values = {st.name: st.values for st in node_health(s)}["window"]
    assert values["keyframes held (estimate in flight)"] == 7 and values["keyframe hold (ms, last)"] == 42.5
    assert _levels(replace(s, ages={**LIVE, "keyframes": 0.2}))["window"][0] == OK  # holding is no fault


def test_inference_levels():
    s = replace(BASE, estimator="", estimator_error="no_such_module")
    assert _levels(s)["inference"] == (ERROR, "no estimator: no_such_module")
    s = replace(BASE, values={"last_status": "FAILED"})
    assert _levels(s)["inference"] == (WARN, "last inference failed")
    assert _levels(replace(BASE, inference_busy=True))["inference"] == (OK, "running")

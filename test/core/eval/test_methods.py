import pytest

from sim2art_core.benchmarks import ablation, latency, report
from sim2art_core.eval import cli, robustness
from sim2art_core.eval.methods import METHODS, MethodName, MethodOptions, build_method, method_specs


def test_method_literal_and_registry_agree():
    METHODS.check_literal(MethodName)
    assert [m.name for m in method_specs()] == list(METHODS.names())


def test_every_method_list_of_the_drivers_names_registered_methods():
    lists = {
        "cli.DEFAULT_METHODS": cli.DEFAULT_METHODS.split(","),
        "report.EVAL_METHODS": report.EVAL_METHODS.split(","),
        "ablation.ABLATION_METHODS": list(ablation.ABLATION_METHODS),
        "latency.METHODS": list(latency.METHODS),
        "robustness.SIDE_BY_SIDE_METHODS": [m for m, _ in robustness.SIDE_BY_SIDE_METHODS],
    }
    for where, names in lists.items():
        assert names and set(names) <= set(METHODS), f"{where}: {set(names) - set(METHODS)} not registered"


def test_unknown_method_is_a_clear_error_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'; registered: .*featclust"):
        build_method("nope", MethodOptions())


def test_a_method_name_can_be_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        METHODS.add("featclust", METHODS.get("featclust"))


def test_featclust_builds_a_run_function():
    assert callable(build_method("featclust", MethodOptions()))


def test_refine_bool_fields_parse_strictly():
    from sim2art_core.eval.methods import parse_refine_set, parse_refine_value

    assert parse_refine_value("long_baseline", "true") is True
    assert parse_refine_value("long_baseline", "False") is False
    assert parse_refine_set(["long_baseline=1", "lb_iterations=4"]) == (("long_baseline", True), ("lb_iterations", 4))
    with pytest.raises(ValueError, match="long_baseline"):
        parse_refine_value("long_baseline", "maybe")


def test_long_baseline_oracle_runs_on_a_scene():
    from sim2art_core.eval.scenes import cabinet, scene_to_sample

    scene = cabinet(8, 512, seed=0)
    sample = scene_to_sample(scene)
    on = build_method("gtseg-refine-long-baseline", MethodOptions())(sample, scene.window)
    off = build_method("gtseg-refine-chained", MethodOptions())(sample, scene.window)
    assert len(on.joints) == len(off.joints) == 2
    for a, b in zip(on.joints, off.joints, strict=True):
        assert a.type == b.type and abs(float(a.axis @ b.axis)) > 0.999

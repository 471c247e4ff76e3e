import pytest

from sim2art_core.eval import ablation, cli, latency, report, robustness
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

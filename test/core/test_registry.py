from typing import Literal

import pytest

from sim2art_core.registry import Registry


def test_register_get_and_names_in_order():
    reg: Registry[int] = Registry("thing")

    @reg.register("b")
    def b():
        return 2

    reg.add("a", 1)
    assert reg.get("b") is b
    assert reg.get("a") == 1
    assert reg.names() == ("b", "a")
    assert "a" in reg and "c" not in reg
    assert len(reg) == 2


def test_duplicate_and_unknown_names_are_clear_errors():
    reg: Registry[int] = Registry("flow method")
    reg.add("dis", 1)
    with pytest.raises(ValueError, match="flow method 'dis' is already registered"):
        reg.add("dis", 2)
    with pytest.raises(ValueError, match="unknown flow method 'x'; registered: dis"):
        reg.get("x")


def test_check_literal_detects_drift():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    reg.add("b", 2)
    reg.check_literal(Literal["a", "b"])
    with pytest.raises(AssertionError):
        reg.check_literal(Literal["a"])

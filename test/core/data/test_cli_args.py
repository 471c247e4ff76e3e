from __future__ import annotations

import argparse

from sim2art_core.data.cli_args import add_object_arguments, add_size_arguments


def test_object_and_size_arguments_parse_with_the_callers_defaults():
    p = argparse.ArgumentParser()
    add_object_arguments(p, sequence_seed=1)
    add_size_arguments(p, 0, 640, 480, "frames")
    a = p.parse_args([])
    assert (a.category, a.object_seed, a.sequence_seed, a.frames, a.width, a.height) == ("Storage1", 0, 1, 0, 640, 480)
    a = p.parse_args("--category Laptop --object-seed 3 --sequence-seed 4 --frames 9 --width 96 --height 72".split())
    assert (a.category, a.object_seed, a.sequence_seed, a.frames, a.width, a.height) == ("Laptop", 3, 4, 9, 96, 72)
    assert "(default 640)" in p.format_help()


def test_defaults_are_not_said_twice_with_a_defaults_formatter():
    p = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_size_arguments(p, 16, 160, 120, "T")
    text = " ".join(p.format_help().split())
    assert "(default: 160)" in text and "(default 160)" not in text

"""Command-line options shared by the tools that generate sequences (sim2art-generate, sim2art-bag-from-sim,
sim2art-demo): one definition, so the flags have the same names, types and meaning everywhere."""

from __future__ import annotations

import argparse


def _default(p: argparse.ArgumentParser) -> str:
    """ " (default X)" for a help text, unless the parser's formatter adds it already."""
    return "" if issubclass(p.formatter_class, argparse.ArgumentDefaultsHelpFormatter) else " (default %(default)s)"


def add_object_arguments(p: argparse.ArgumentParser, category: str = "Storage1", sequence_seed: int = 0) -> None:
    """``--category``, ``--object-seed`` (default 0), ``--sequence-seed``: which generated object and motion."""
    d = _default(p)
    p.add_argument("--category", default=category, help="object category (sim2art_core.data.sequence.CATEGORIES)" + d)
    p.add_argument("--object-seed", type=int, default=0, help="object instance seed" + d)
    p.add_argument("--sequence-seed", type=int, default=sequence_seed, help="camera path / joint motion seed" + d)


def add_size_arguments(p: argparse.ArgumentParser, frames: int, width: int, height: int, frames_help: str) -> None:
    """``--frames`` (help: ``frames_help``), ``--width``, ``--height`` (pixels) of the rendered sequences
    (:class:`~sim2art_core.data.generator.SequenceConfig` ``num_frames``, ``width``, ``height``)."""
    d = _default(p)
    p.add_argument("--frames", type=int, default=frames, help=frames_help)
    p.add_argument("--width", type=int, default=width, help="rendered image width in pixels" + d)
    p.add_argument("--height", type=int, default=height, help="rendered image height in pixels" + d)

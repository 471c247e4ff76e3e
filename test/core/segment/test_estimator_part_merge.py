"""The Estimator with the part merge (EstimatorConfig.part_merge): a network that cuts every moving part in two
slots at the object's middle reports one door as two parts with two joints; with the merge, one part with one
joint. A double door cut the same way stays two doors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim2art_core.estimator import EstimatorConfig
from sim2art_core.types import EstimateStatus

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from oracle_nets import MovingCutInTwoNet, oracle_estimator
from scenes import best_iou, render, two_door_cabinet
from test_part_merge import _one_door


@pytest.fixture(scope="module")
def cuts_top_bottom(tmp_path_factory):
    return oracle_estimator(tmp_path_factory, MovingCutInTwoNet, axis=1)


@pytest.fixture(scope="module")
def cuts_left_right(tmp_path_factory):
    return oracle_estimator(tmp_path_factory, MovingCutInTwoNet, axis=0)


@pytest.mark.parametrize("refine", [False, True])
def test_a_door_cut_in_two_slots_is_one_part_with_one_joint(cuts_top_bottom, refine):
    scene = render(_one_door(), T=12, N=800, seed=31)
    window = scene.window()
    plain = cuts_top_bottom.estimate(window, refine=refine, part_merge=False)
    est = cuts_top_bottom.estimate(window, refine=refine, part_merge=True)
    assert plain.status == est.status == EstimateStatus.OK
    assert len(plain.joints) == 2 and len(plain.parts) == 3  # the network's two halves
    assert len(est.joints) == 1 and len(est.parts) == 2
    assert best_iou(est.labels, scene.labels == 1) > 0.95
    assert est.joints[0].child == 1
    assert "part_merge" in est.timings and ":partmerge" in est.estimator_id
    assert est.parts[1].num_points == plain.parts[1].num_points + plain.parts[2].num_points


def test_a_double_door_cut_in_two_slots_stays_two_doors(cuts_left_right):
    scene = render(two_door_cabinet(), T=12, N=800, seed=32)
    est = cuts_left_right.estimate(scene.window(), refine=True, part_merge=True)
    assert est.status == EstimateStatus.OK and len(est.joints) == 2
    assert best_iou(est.labels, scene.labels == 1) > 0.95 and best_iou(est.labels, scene.labels == 2) > 0.95


def test_config_and_override(cuts_top_bottom):
    scene = render(_one_door(), T=12, N=800, seed=33)
    window = scene.window()
    default_on = EstimatorConfig().part_merge
    assert len(cuts_top_bottom.estimate(window).joints) == (1 if default_on else 2)
    assert len(cuts_top_bottom.estimate(window, part_merge=not default_on).joints) == (2 if default_on else 1)

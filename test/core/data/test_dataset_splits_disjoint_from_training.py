"""Written datasets never share an object with on-the-fly training."""

from __future__ import annotations

from sim2art_core.data.jobs import DATASET_OBJECT_SEED_BIT, plan_splits
from sim2art_core.data.sequence import CATEGORIES
from sim2art_core.train.sources import VAL_SEED_OFFSET


def test_dataset_object_seeds_lie_above_the_training_seed_space():
    plan = plan_splits(CATEGORIES, objects_per_category=20, sequences_per_object=2, seed=123)
    seeds = {j.object_seed for split in plan.values() for j in split}
    assert len(seeds) == 20 * len(CATEGORIES)  # distinct instances
    # on-the-fly training draws [0, 1e6) and validation [1e6, 2e6): both far below the dataset bit
    assert 2 * VAL_SEED_OFFSET < DATASET_OBJECT_SEED_BIT
    assert min(seeds) >= DATASET_OBJECT_SEED_BIT and max(seeds) < 2**31

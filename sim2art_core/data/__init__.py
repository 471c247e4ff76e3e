"""Synthetic data engine: procedural articulated objects, PyBullet rendering, sequences, datasets.

Modules (data flows top to bottom):

* :mod:`.objects` -- procedural objects of the 14 categories and external URDFs (``ArticulatedObject``).
* :mod:`.renderer` -- PyBullet RGB / depth / part-mask rendering of an object at given joint states.
* :mod:`.camera_path`, :mod:`.motion`, :mod:`.realism` -- handheld camera arcs, joint motion profiles,
  optional sensor imperfections.
* :mod:`.generator` -- one training sample (:class:`~sim2art_core.data.sequence.SequenceSample`).
* :mod:`.records`, :mod:`.dataset` -- compact on-disk records, sharded datasets and their reader.
* :mod:`.ground_truth`, :mod:`.picture`, :mod:`.cli` -- ground truth as an estimate, PNG previews, CLI.

Nothing here imports ROS (see docs/DATA.md).
"""

"""Small enums shared by every stage."""

from __future__ import annotations

from enum import IntEnum


class JointType(IntEnum):
    """Type of the joint that attaches a part to its parent.

    The values are the network's class indices (paper Eq. 7: 0 revolute, 1
    prismatic, 2 static) and equal ``ArticulationJoint.TYPE_*`` in msg/.
    """

    REVOLUTE = 0
    PRISMATIC = 1
    STATIC = 2  # "fixed" in ROS messages: the part does not move relative to its parent


class EstimateStatus(IntEnum):
    """Outcome of one estimate; values equal ``Articulation.STATUS_*`` in msg/."""

    OK = 0
    NO_ARTICULATION = 1  # nothing moved more than the noise level during the window
    FAILED = 2  # bad input or an inference error; the estimate's message says why

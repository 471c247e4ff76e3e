"""The example consumer node (``sim2art-consumer``): /articulation -> an opening path for a planner."""

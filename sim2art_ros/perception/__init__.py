"""The perception node (``sim2art-perceive``): wiring, parameters, TF buffer and diagnostics."""

"""sim2art_core: synthetic data, network, training, estimator, metrics (no ROS).

Data flows one way: frames -> window -> points/flow/features -> network ->
estimate. Units are SI (m, rad, s); quaternions are x, y, z, w.
"""

__version__ = "0.1.0"

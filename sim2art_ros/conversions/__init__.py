"""ROS messages <-> sim2art_core types: images and camera info, the Articulation message, RViz markers."""

"""ROS-free run-time helpers of the perception node: input synchronisation, estimator loading, the inference thread."""

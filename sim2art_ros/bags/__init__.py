"""Bags: reading (rosbags), QoS, the topic layout, writing simulated bags, recording, replay, node processes."""

# Source this file (bash) before anything starts rclpy from this repository.
# Network safety: rclpy with default settings multicasts discovery on every
# interface. LOCALHOST keeps discovery on loopback (ROS_LOCALHOST_ONLY is ignored
# by kilted); the Fast DDS profile adds a 32 MB shared-memory segment so large
# images are not dropped. A user on a real robot network overrides both before
# sourcing: see README "Robot network".
_sim2art_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_sim2art_root/config/fastdds_shm_large.xml}"
unset _sim2art_root

"""pip install -e . : the Python packages and console scripts, for users without a
ROS workspace (the ROS 2 build is CMakeLists.txt). scripts/setup_env.sh installs
the pinned dependencies first (torch==2.13.0 CPU before anything else)."""

from setuptools import find_packages, setup

setup(
    name="sim2art",
    version="0.1.0",
    description="Articulated-object modelling from a casual RGB-D video, trained on synthetic data only",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["sim2art_core", "sim2art_core.*", "sim2art_ros", "sim2art_ros.*"]),
    package_data={"sim2art_core": ["checkpoints/*.pt", "checkpoints/*.json"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "opencv-python-headless>=4.8",
        "pybullet>=3.2.5",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "PyYAML>=6",
        "rosbags>=0.11",
        "torch>=2.2",
    ],
    extras_require={
        "dino": ["transformers>=4.40"],
        "test": ["pytest", "pytest-timeout", "ruff", "psutil", "yourdfpy", "trimesh"],
    },
    entry_points={
        "console_scripts": [
            # sim2art_core: offline, no ROS
            "sim2art-generate = sim2art_core.data.cli:main",
            "sim2art-show-sample = sim2art_core.data.picture:main",
            "sim2art-train = sim2art_core.train.cli:main",
            "sim2art-eval = sim2art_core.eval.cli:main",
            "sim2art-benchmark = sim2art_core.benchmarks.cli:main",
            # sim2art_ros: ROS 2 graph and bags
            "sim2art-perceive = sim2art_ros.perception.node:main",
            "sim2art-consumer = sim2art_ros.consumer.node:main",
            "sim2art-bag-from-sim = sim2art_ros.bags.writer:main",
            "sim2art-replay = sim2art_ros.bags.replay:main",
            "sim2art-bag-eval = sim2art_ros.tools.bag_eval:main",
            "sim2art-bag-benchmark = sim2art_ros.tools.bag_benchmark:main",
            "sim2art-demo = sim2art_ros.tools.demo:main",
            "sim2art-export-urdf = sim2art_ros.tools.export_urdf:main",
        ]
    },
)

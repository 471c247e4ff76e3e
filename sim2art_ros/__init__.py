"""sim2art_ros: the thin ROS 2 layer of sim2art (node, bag tools, consumer).

The package name is shared with the interfaces generated from msg/
(``sim2art_ros.msg``). In a colcon install both live in one directory; in the
pip-only environment the generated module sits in the venv's site-packages while
these sources stay in the checkout. Extending ``__path__`` lets one import see
both halves, whichever directory Python finds first (CMakeLists.txt installs
this file over the generated, empty ``__init__.py``).
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

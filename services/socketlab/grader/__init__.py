"""The grader: a learner's socket program, run caged on a lab network, checked over the wire.

``python3 -m socketlab.grader --kind KIND --submission DIR`` (or ``--target HOST:PORT``) builds
and runs the program (:mod:`.sandbox`), runs a kind's checks (:mod:`.checks`, one module per
kind) from the grader's own container (:mod:`.checker`), and writes report.json, junit.xml and
Gradescope's results.json (:mod:`.report`). Standard library only: the checker's image is built
on socketlab/base with the network off.
"""

from .checks import Check, Failed, Level, NoAnswer, Result, Status, Suite
from .kinds import KINDS, Kind

__all__ = ["KINDS", "Check", "Failed", "Kind", "Level", "NoAnswer", "Result", "Status", "Suite"]

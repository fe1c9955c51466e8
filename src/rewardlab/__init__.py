"""rewardlab: learn reward functions from demonstrations, rankings and preferences.

See the README for the two commands that install and run it, and ``docs`` for the guides.
"""

__version__ = "0.1.0"

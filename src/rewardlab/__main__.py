"""``python -m rewardlab`` runs the command line."""

from rewardlab.cli import app

app(prog_name="rewardlab")

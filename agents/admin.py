"""Admin of the agents app. The flywheel's (events, feedback, daily metrics) is in agents/flywheel/admin.py."""

from agents.flywheel import admin as flywheel_admin  # noqa: F401  (registers its model admins)

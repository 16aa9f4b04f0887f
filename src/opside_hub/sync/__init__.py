"""The sync pipeline: runs, steps, checkpoints, progress, schedules."""

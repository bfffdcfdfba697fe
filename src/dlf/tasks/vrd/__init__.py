"""Open Images 2019 Visual Relationship Detection: the competition's files (files.py) and its
metric (metric.py); the model and the task glue come later."""

"""Open Images 2019 Visual Relationship Detection: the competition's files (files.py), its
metric (metric.py, with the official label ids in labelmap.py) and the frequency prior
(prior.py); the model and the task glue come later."""

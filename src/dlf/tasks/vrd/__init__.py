"""Open Images 2019 Visual Relationship Detection: the competition's files (files.py), its
metric (metric.py, with the official label ids in labelmap.py) and the frequency prior
(prior.py), the embedded dataset (synth.py) and the task (task.py: the shared FCOS detector's
boxes made into triplets by the prior; a learned pair head comes next)."""

"""Open Images 2019 Visual Relationship Detection: the competition's files (files.py), its
metric (metric.py, with the official label ids in labelmap.py) and the frequency prior
(prior.py), the embedded dataset (synth.py) and the task (task.py): the shared FCOS
detector's boxes, related by a pair head and an attribute head (pairhead.py, model.py)
trained with it; predict.py turns the model's rows into triplets, truth_boxes.py scores the
heads alone on truth boxes. Modules are imported by path (dlf.tasks.vrd.model, ...)."""

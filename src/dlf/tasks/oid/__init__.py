"""Open Images 2019 Object Detection as a dlf task (being built: files, metric, synth, task)."""

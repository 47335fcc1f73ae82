"""Multi-label classification: a set of labels per text (or text pair), one sigmoid output per label with
decision thresholds tuned on valid; `task.Multilabel`."""

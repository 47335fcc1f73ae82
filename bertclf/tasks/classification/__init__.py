"""Classification: a label per text (or text pair), and the scores of a label distribution; `task.Classification`."""

"""Regression: a number per text (or text pair), such as a rating or a similarity score; `task.Regression`."""

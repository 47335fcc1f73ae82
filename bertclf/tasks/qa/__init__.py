"""Extractive question answering (SQuAD / KorQuAD 1.0): an answer span per question in its passage; `task.QuestionAnswering`."""

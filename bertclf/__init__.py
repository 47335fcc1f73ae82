"""bert-hpo's training engine: data, model, loop, feature cache, metrics, results table.

Nothing in this package imports Ray: a plain local run, a Ray Train worker and a Ray Tune
trial all call `bertclf.train.train` and receive its per-epoch reports through a callback.
"""

"""Batches grouped by length (bertclf/batching.py)."""


def test_length_grouping_pads_less_than_random_batches():
    import random
    from bertclf.batching import training_steps
    rng = random.Random(0)
    lengths = [rng.randint(10, 500) for _ in range(2000)]
    steps = training_steps(lengths, 16, 1, seed=0, epoch=1)
    grouped = sum(max(lengths[i] for i in mb) * len(mb) for step in steps for mb in step)
    order = list(range(2000))
    rng.shuffle(order)
    plain = sum(max(lengths[i] for i in order[j:j + 16]) * 16 for j in range(0, 2000, 16))
    assert grouped < 0.7 * plain
    assert steps != training_steps(lengths, 16, 1, seed=0, epoch=2)  # reshuffled each epoch

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


def test_texts_cut_into_windows_batch_by_windows_and_expand_to_them():
    import torch
    from bertclf.batching import text_batches, token_inputs
    from bertclf.tokenization import TokenIds
    from bertclf.windows import DocumentWindows
    counts = torch.tensor([1, 5, 2, 20, 1], dtype=torch.int32)
    windows = TokenIds(torch.arange(29 * 4, dtype=torch.int32) % 50 + 1, torch.full((29,), 4, dtype=torch.int32))
    docs = DocumentWindows(windows, counts)
    batches = text_batches(docs, 6)
    assert batches == [[3], [1], [2, 0, 4]]  # longest first, at most 6 windows a batch unless one text has more
    inputs = token_inputs(docs, 0, 1, [2, 0])
    assert inputs["input_ids"].shape == (3, 4) and inputs["doc_index"].tolist() == [0, 0, 1]
    assert inputs["input_ids"][2].tolist() == windows[0].tolist()  # text 0's one window, after text 2's two

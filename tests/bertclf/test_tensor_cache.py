"""The on-disk tensor cache (bertclf/tensor_cache.py)."""
import torch


def test_feature_cache_computes_each_key_once_under_concurrency(tmp_path):
    import threading
    from bertclf.tensor_cache import cached
    calls = []

    def compute():
        calls.append(1)
        import time
        time.sleep(0.2)
        return {"x": torch.arange(4)}
    results = []
    threads = [threading.Thread(target=lambda: results.append(cached(tmp_path, "k", "same", compute)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sum(hit for _, hit, _ in results) == 3

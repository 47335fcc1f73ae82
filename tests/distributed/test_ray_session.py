"""What a search's Ray workers get from distributed/ray_session.py: their environment."""
from bert_hpo_distributed.ray_session import worker_environment


def test_workers_get_two_malloc_arenas_unless_the_user_set_their_own(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert worker_environment()["env_vars"]["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert worker_environment()["env_vars"]["MALLOC_ARENA_MAX"] == "8"

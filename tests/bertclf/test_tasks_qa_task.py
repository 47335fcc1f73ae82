"""The QA task (bertclf/tasks/qa/task.py): boost refused with the reason, a tiny model learns to EM 100."""
import pytest

from bertclf.errors import UserError


def test_boost_is_refused_for_qa_with_the_reason():
    from bertclf.config import TrainConfig
    from bertclf.tasks import check_task_options
    with pytest.raises(UserError, match="every token's vector"):
        check_task_options(TrainConfig(task="qa", train_path="x.json", bert_finetuning=False, boost=True))


def test_tiny_model_learns_a_handful_of_questions_to_em_100(korean, tmp_path):
    from bertclf.config import TrainConfig
    from bertclf.train import train
    result = train(TrainConfig(task="qa", train_path=korean["path"], valid_path=korean["path"],
                               bert_name=korean["model"], max_length=64, doc_stride=16, batch_size=8,
                               n_epochs=40, lr=3e-3, lr_main=3e-3, dropout_p=0.0, warmup_ratio=0.0,
                               save_path=str(tmp_path), run_name="qa", cache_dir=str(tmp_path / "c"),
                               progress=False, early_stop=5))
    assert result["best"]["valid_exact_match"] == 100.0 and result["best"]["valid_f1"] == 100.0
    table = open(f"{result['run_dir']}/results.md").read()
    assert "| valid EM | valid F1 |" in table and "| 100.00 | 100.00 |" in table


def test_qa_takes_no_folds():
    from bertclf.config import TrainConfig
    from bertclf.errors import UserError
    from bertclf.tasks import task_named
    with pytest.raises(UserError, match="--cv_folds 3 with --task qa is refused"):
        task_named("qa").check_options(TrainConfig(task="qa", max_length=384, cv_folds=3))

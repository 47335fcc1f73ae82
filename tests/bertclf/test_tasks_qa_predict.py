"""A saved QA model answers (bertclf/tasks/qa/predict.py, through --predict and score_model)."""
import json

from bertclf.data.squad import read_squad


def test_predict_answers_with_a_saved_qa_model(korean, tmp_path, capsys):
    from launch import main  # the user-facing parser
    from bertclf.config import TrainConfig
    from bertclf.predict import score_model, test_inputs
    from bertclf.train import train
    result = train(TrainConfig(task="qa", train_path=korean["path"], valid_path=korean["path"],
                               bert_name=korean["model"], max_length=64, doc_stride=16, batch_size=8,
                               n_epochs=40, lr=3e-3, lr_main=3e-3, dropout_p=0.0, warmup_ratio=0.0,
                               save_path=str(tmp_path), run_name="qa", cache_dir=str(tmp_path / "c"),
                               progress=False, early_stop=5), log=lambda s: None)
    inputs = test_inputs(result["run_dir"], korean["path"], cache_dir=tmp_path / "c")
    assert score_model(result["run_dir"], inputs, cache_dir=tmp_path / "c") == {
        "exact_match": 100.0, "f1": 100.0, "examples": 8}
    example = read_squad(korean["path"])[0]
    capsys.readouterr()
    assert main(["--predict", "--model", result["run_dir"], "--question", example.question,
                 "--context", example.context]) == 0
    assert json.loads(capsys.readouterr().out) == {"question": example.question, "answer": example.answers[0]}
    assert main(["--predict", "--model", result["run_dir"], "--text", "x"]) == 2

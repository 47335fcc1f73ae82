"""What a search checks before Ray starts (distributed/plan.py): each model found and bound to its limit,
your own data's files, a shipped data set's labels bound to a user's files in its layout."""
from pathlib import Path

import pytest

from bertclf.errors import UserError
from bertclf.models.tiny_model import build_tiny_model
from bert_hpo_distributed import search_lock
from bert_hpo_distributed.inputs import search_configs, tokenise
from bert_hpo_distributed.plan import SearchOptions, make_plan
from bert_hpo_distributed.spec.load import load_spec
from tests.helpers import sentiment_rows, write_csv


@pytest.fixture(autouse=True)
def released():
    """A plan holds its search's lock until the search releases it: here each test does."""
    yield
    search_lock.release()


def test_a_smoke_test_stands_one_tiny_bert_in_for_every_searched_model(tmp_path):
    from bert_hpo_distributed.plan import SearchOptions, make_plan
    opts = SearchOptions(search="imdb", smoke_test=True, output_dir=str(tmp_path),
                         overrides=["space.bert_name={choice: [no-such-model-a, no-such-model-b]}"])
    plan = make_plan(opts, say=lambda message: None, created=[])
    assert "bert_name" not in plan.spec.space and list(plan.models) == [plan.spec.fixed["bert_name"]]
    assert plan.models[plan.spec.fixed["bert_name"]].facts.has_pooler  # the tiny BERT, found and read


def test_each_searched_model_keeps_the_max_length_choices_within_its_own_limit(toy, tmp_path):
    """Two models of 64 and 128 positions: the plan drops 100 for the short one only (before Ray), and
    refuses a space whose every choice is above one model's limit."""
    import yaml
    from bertclf.errors import UserError
    from bert_hpo_distributed.plan import SearchOptions, make_plan
    texts = [t for t, _ in sentiment_rows(100, seed=1)]
    short, long = (build_tiny_model(tmp_path / name, texts, max_positions=n) for name, n in (("short", 64), ("long", 128)))
    spec = {"name": "limits", "dataset": "imdb", "files": {"train": toy["train"], "test": toy["valid"]},
            "space": {"bert_name": {"choice": [short, long]}, "max_length": {"choice": [32, 100]}}}
    path = tmp_path / "limits.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    said = []
    plan = make_plan(SearchOptions(search=str(path), output_dir=str(tmp_path / "out")), say=said.append, created=[])
    assert [d.args for d in (plan.spec.space_for(short)["max_length"], plan.spec.space_for(long)["max_length"])] == \
        [(32,), (32, 100)]
    assert said == [f"warning: space.max_length [100] dropped for {short}: above its limit of 64 positions"]
    path.write_text(yaml.safe_dump({**spec, "space": {**spec["space"], "max_length": {"choice": [100, 120]}}}))
    with pytest.raises(UserError, match=rf"space.max_length: every choice \[100, 120\] is above {short}'s limit of 64"):
        make_plan(SearchOptions(search=str(path), output_dir=str(tmp_path / "out2")), say=said.append, created=[])


def test_own_data_without_files_is_refused_before_anything_runs(tmp_path):
    from bert_hpo_distributed.plan import SearchOptions, _data
    with pytest.raises(UserError, match=r"your own data needs files: \{train: \.\.\., test: \.\.\.\} \(or --train_path"):
        _data(SearchOptions(search="classify"), load_spec("classify"), tmp_path)


@pytest.mark.parametrize("train_labels", [{"neg": 0, "pos": 1}, {"neg": "negative", "pos": "positive"}],
                         ids=["ids", "names"])
def test_a_users_imdb_files_read_as_imdbs_labels(tmp_path, train_labels):
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "imdb_train.csv", [(t, train_labels[y]) for t, y in sentiment_rows(300, 1)], ["text", "label"])
    for k, (text, label) in enumerate(sentiment_rows(120, 2)):  # test: the aclImdb layout, pos/ and neg/
        (data / "aclImdb" / "test" / label).mkdir(parents=True, exist_ok=True)
        (data / "aclImdb" / "test" / label / f"{k}_5.txt").write_text(text, encoding="utf-8")
    plan = make_plan(SearchOptions(search="imdb", smoke_test=True, data_dir=str(data),
                                   output_dir=str(tmp_path / "out")), lambda line: None, [])
    configs = search_configs(plan.spec)
    assert {c.dataset for c in configs} == {"imdb"}
    groups = tokenise(plan, configs, lambda line: None)  # reads the test file too: its labels must be train's
    assert {tuple(inputs.label_names) for _, inputs, _ in groups} == {("negative", "positive")}


def test_max_concurrent_is_taken_as_given_however_set_and_else_what_the_cpus_hold():
    """20 trials in flight on 2 CPUs when asked for (they wait for a CPU in Ray's queue, as on a
    cluster), by --max-concurrent or by --set max_concurrent alike; unasked, what 2 CPUs hold."""
    from bert_hpo_distributed.plan import _concurrency
    from bert_hpo_distributed.spec.load import flag_overrides
    by_set = load_spec("imdb", ["num_samples=30", "max_concurrent=20"], profile=["cpu"])
    by_flag = load_spec("imdb", ["num_samples=30"], profile=["cpu"], flags=flag_overrides({"max_concurrent": 20}))
    assert [_concurrency(spec, False, True, cpus=2) for spec in (by_set, by_flag)] == [20, 20]
    assert _concurrency(load_spec("imdb", ["num_samples=30"], profile=["cpu"]), False, True, cpus=2) <= 2


def test_a_trials_folder_without_a_saved_state_is_named_not_resumed(tmp_path):
    """What a disk that filled as the Tuner was made can leave: neither the command nor --resume loops;
    the refused plan leaves its folder's lock free."""
    trials = tmp_path / "out" / "imdb-smoke" / "trials"
    trials.mkdir(parents=True)
    for resume in (False, True):
        with pytest.raises(UserError, match=f"{trials} holds a search that saved no state to resume"):
            make_plan(SearchOptions(search="imdb", smoke_test=True, resume=resume, output_dir=str(tmp_path / "out")),
                      lambda message: None, [])
        assert not search_lock._held and not search_lock.lock_path(trials.parent).exists()


def test_a_finished_search_resumed_says_so_before_ray_starts(tmp_path):
    """Its record says it finished and its results.md stands: nothing to restore (Ray not started);
    without the results.md, Tune's restore decides (the outputs may never have been written)."""
    from bert_hpo_distributed.search_record import SearchFinishedAlready, write_record
    folder = tmp_path / "out" / "imdb-smoke"
    (folder / "trials").mkdir(parents=True)
    (folder / "trials" / "tuner.pkl").write_bytes(b"")  # what Tuner.can_restore looks for
    write_record(str(folder), 4, finished=4)
    opts = SearchOptions(search="imdb", smoke_test=True, resume=True, output_dir=str(tmp_path / "out"))
    plan = make_plan(opts, lambda message: None, [])  # no results.md yet
    search_lock.release()
    assert plan.opts.resume
    (folder / "results.md").write_text("# Search imdb-smoke\n")
    with pytest.raises(SearchFinishedAlready, match=rf"^this search had finished already \(4 trials, none run now\): "
                                                    rf"its outputs are in {folder}$"):
        make_plan(opts, lambda message: None, [])
    assert not search_lock._held and not search_lock.lock_path(folder).exists()


@pytest.mark.parametrize("options, said", [
    (dict(export_front=True), r"--export-front: the spec \S*imdb.yaml has no objectives or constraints"),
    (dict(serve_device="cuda"), r"--serve-device: the spec \S*imdb.yaml has no objectives or constraints"),
    (dict(int8_tolerance=1.0), r"--int8-tolerance 1: no trial of the spec \S*imdb.yaml has precision int8"),
])
def test_an_option_the_spec_gives_nothing_to_act_on_is_one_error(tmp_path, options, said):
    with pytest.raises(UserError, match=said):
        make_plan(SearchOptions(search="imdb", smoke_test=True, output_dir=str(tmp_path), **options), print, [])
    assert not (tmp_path / "imdb-smoke").exists()  # before any folder is made


def own_files(tmp_path, valid_labels):
    """--train_path / --valid_path / --test_path of a user's files (columns message, team) as --set overrides."""
    labels = ["billing", "shipping"]
    paths = {}
    for split, n, seed, names in (("train", 120, 1, labels), ("valid", 40, 2, valid_labels), ("test", 40, 3, labels)):
        rows = [(text, names[i % len(names)]) for i, (text, _) in enumerate(sentiment_rows(n, seed))]
        paths[split] = write_csv(tmp_path / f"{split}.csv", rows, ["message", "team"])
    return [f"files.{split}={path}" for split, path in paths.items()] + [
        "columns={text: message, label: team}", "metric=valid_macro_f1"]


def test_a_smoke_test_checks_a_users_valid_file_as_a_full_run_does(tmp_path):
    overrides = own_files(tmp_path, ["billing", "shipping", "hardware"])
    for smoke in (True, False):
        with pytest.raises(UserError, match=rf"^--valid_path {tmp_path}/valid.csv: label 'hardware' \(example 3\) "
                                            r"is not among the training labels \['billing', 'shipping'\]$"):
            plan = make_plan(SearchOptions(search="classify", smoke_test=smoke, overrides=overrides,
                                           output_dir=str(tmp_path / "out")), lambda line: None, [])
            tokenise(plan, search_configs(plan.spec), lambda line: None)  # a full run reads its files here
        search_lock.release()


def test_a_smoke_test_validates_on_a_slice_of_a_users_valid_file(tmp_path):
    plan = make_plan(SearchOptions(search="classify", smoke_test=True, overrides=own_files(tmp_path, ["billing"]),
                                   output_dir=str(tmp_path / "out")), lambda line: None, [])
    valid = {c.valid_path for c in search_configs(plan.spec)}
    assert valid == {str(plan.out_dir / "smoke-data" / "valid.csv")}
    assert (plan.out_dir / "smoke-data" / "valid.csv").read_text(encoding="utf-8").count("\n") == 41  # header + rows


def test_a_typed_mistake_is_told_before_the_folder_that_holds_a_search(tmp_path):
    """A wrong column, rerun where a smoke search stands: the column is named first (the folder's
    refusal comes once the data are good), and the standing search's slices are not rewritten."""
    overrides = own_files(tmp_path, ["billing", "shipping"])
    opts = SearchOptions(search="classify", smoke_test=True, overrides=overrides, output_dir=str(tmp_path / "out"))
    plan = make_plan(opts, lambda line: None, [])
    search_lock.release()
    Path(plan.experiment).mkdir()
    (Path(plan.experiment) / "tuner.pkl").write_bytes(b"")  # what Tuner.can_restore looks for
    (plan.out_dir / "smoke-data" / "train.csv").write_text("what the standing search trains on\n")
    wrong = SearchOptions(search="classify", smoke_test=True, output_dir=str(tmp_path / "out"),
                          overrides=overrides + ["columns={text: mesage, label: team}"])
    with pytest.raises(UserError, match=r"--text_column mesage: no such column in the header \['message', 'team'\]"):
        make_plan(wrong, lambda line: None, [])
    search_lock.release()
    with pytest.raises(UserError, match=r"trials holds a search already: pass --resume to continue it"):
        make_plan(opts, lambda line: None, [])
    assert (plan.out_dir / "smoke-data" / "train.csv").read_text() == "what the standing search trains on\n"


def test_a_new_search_refused_for_its_data_leaves_no_folder(tmp_path):
    """The smoke test writes its slices before it reads a wrong column: the folder it made goes."""
    from bert_hpo_distributed.search import run_search
    overrides = own_files(tmp_path, ["billing", "shipping"]) + ["columns={text: mesage, label: team}"]
    with pytest.raises(UserError, match=r"--text_column mesage: no such column"):
        run_search(SearchOptions(search="classify", smoke_test=True, overrides=overrides,
                                 output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out" / "classify-smoke").exists()

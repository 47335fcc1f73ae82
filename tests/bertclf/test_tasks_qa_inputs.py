"""QA windows (bertclf/tasks/qa/inputs.py): the answer's tokens where it fits, doc_stride as the overlap, a
question too long for a window refused by name."""
import pytest

from bertclf.errors import UserError
from bertclf.tasks.qa.inputs import Windows, windows
from bertclf.smoke import FRUITS, PEOPLE
from bertclf.data.squad import QAExample, read_squad


def test_windows_hold_the_answer_where_it_fits(korean, tmp_path):
    from bertclf.models.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    long_context = " ".join(f"{p}는 {f}를 좋아한다." for p, f in zip(PEOPLE * 3, FRUITS * 3))
    answer_at = long_context.rindex("자두")
    examples = [QAExample("x", "미나가 좋아하는 과일은?", long_context, ["자두"], answer_at, "t")]
    win = Windows(windows(tokenizer, examples, max_length=32, doc_stride=8, cache_dir=tmp_path))
    assert len(win) > 2  # the context was cut into several overlapping windows
    found = 0
    for w in range(len(win)):
        s, e = int(win.tensors["starts"][w]), int(win.tensors["ends"][w])
        if s == 0:
            continue
        offsets = win.offsets(w)
        # the start and end tokens are the ones that hold the answer's first and last character
        assert offsets[s, 0] <= answer_at < offsets[s, 1]
        assert offsets[e, 0] < answer_at + len("자두") <= offsets[e, 1]
        assert "자두" in long_context[int(offsets[s, 0]):int(offsets[e, 1])]
        found += 1
    assert found >= 1


def test_doc_stride_is_the_overlap_of_neighbouring_windows(korean, tmp_path):
    from bertclf.models.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    long_context = " ".join(f"{p}는 {f}를 좋아한다." for p, f in zip(PEOPLE * 3, FRUITS * 3))
    examples = [QAExample("x", "미나가 좋아하는 과일은?", long_context, ["자두"], long_context.rindex("자두"), "t")]
    win = Windows(windows(tokenizer, examples, max_length=32, doc_stride=8, cache_dir=tmp_path))
    spans = [[tuple(o) for o in win.offsets(w).tolist() if o[0] != -1] for w in range(2)]
    assert len(set(spans[0]) & set(spans[1])) == 8  # the context tokens both windows hold


def test_a_question_too_long_for_a_window_is_refused_naming_it(korean, tmp_path):
    from bertclf.models.encoders import load_tokenizer
    tokenizer = load_tokenizer(korean["model"])
    example = read_squad(korean["path"])[0]
    long = QAExample("long-q", " ".join([example.question] * 12), example.context, example.answers,
                     example.answer_start, example.article)
    with pytest.raises(UserError, match=r"question long-q is \d+ tokens long: with --max_length 32 and --doc_stride 8"):
        windows(tokenizer, [example, long], max_length=32, doc_stride=8, cache_dir=tmp_path)

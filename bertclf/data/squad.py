"""SQuAD-format questions (KorQuAD 1.0 is SQuAD v1.1 JSON): reading, writing, and splitting by article
(KorQuAD's dev set split into train and test parts when its train set is absent)."""
import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import List

from ..atomic import write_text
from ..errors import UserError


@dataclass
class QAExample:
    qid: str
    question: str
    context: str
    answers: List[str]
    answer_start: int  # of the first answer, in characters
    article: str


def read_squad(path, option: str = "train_path") -> List[QAExample]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--{option} {path}: no such file")
    try:
        raw = path.read_bytes()
        data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
        articles = data["data"]
    except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
        raise UserError(f"--{option} {path}: not SQuAD-format JSON with a top-level 'data' list "
                        f"({e.__class__.__name__})") from None
    examples = []
    for a, article in enumerate(articles):
        title = article.get("title", f"article-{a}")
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraph.get("context")
            for qa in paragraph.get("qas", []):
                where = f"--{option} {path}: article {a} ({title}), paragraph {p}, question {qa.get('id')}"
                answers = qa.get("answers") or []
                if not isinstance(context, str) or not qa.get("question") or not answers:
                    raise UserError(f"{where}: needs a context, a question and at least one answer")
                start, text = answers[0].get("answer_start"), answers[0].get("text", "")
                if not isinstance(start, int) or context[start:start + len(text)] != text:
                    raise UserError(f"{where}: answer_start {start} does not point at {text!r} in the context")
                examples.append(QAExample(str(qa["id"]), qa["question"], context,
                                          [x["text"] for x in answers], start, title))
    if not examples:
        raise UserError(f"--{option} {path}: no questions in the file")
    return examples


def split_by_article(examples: List[QAExample], fraction: float, seed: int):
    """(train, held out): whole articles go to one side, so no context is seen in both."""
    titles = sorted({e.article for e in examples})
    random.Random(seed).shuffle(titles)
    n_held = max(1, round(len(titles) * fraction))
    if n_held >= len(titles):
        raise UserError(f"cannot hold out {fraction:.0%} of {len(titles)} article(s) for validation")
    held = set(titles[:n_held])
    return [e for e in examples if e.article not in held], [e for e in examples if e.article in held]


def write_squad(examples: List[QAExample], path) -> None:
    """Examples back into SQuAD v1.1 JSON (articles -> paragraphs -> questions), atomically."""
    articles = {}
    for e in examples:
        paragraphs = articles.setdefault(e.article, {})
        paragraphs.setdefault(e.context, []).append(
            {"id": e.qid, "question": e.question,
             "answers": [{"text": e.answers[0], "answer_start": e.answer_start}]
             + [{"text": a, "answer_start": e.context.find(a)} for a in e.answers[1:]]})
    data = [{"title": title, "paragraphs": [{"context": c, "qas": q} for c, q in paragraphs.items()]}
            for title, paragraphs in articles.items()]
    write_text(path, json.dumps({"version": "split", "data": data}, ensure_ascii=False))


def split_dev(dev_path, fraction: float, folder, seed: int):
    """({"train", "test"}, note): KorQuAD's train set is absent, so its dev set is split by article."""
    examples = read_squad(dev_path, "dev data")
    train, test = split_by_article(examples, fraction, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_squad(train, folder / "dev_split_train.json")
    write_squad(test, folder / "dev_split_test.json")
    note = (f"The train set was not available: the dev set ({Path(dev_path).name}) was split by article, "
            f"{len({e.article for e in train})} articles / {len(train)} questions to train and "
            f"{len({e.article for e in test})} articles / {len(test)} questions to test; these scores "
            f"are not comparable to published dev-set scores.")
    return {"train": folder / "dev_split_train.json", "test": folder / "dev_split_test.json"}, note

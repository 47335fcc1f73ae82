"""Data for seconds-long runs that need nothing but the install.

- IMDB and NSMC: small slices of the real data sets ship in smoke_data/ (regenerate them with
  `python -m bertclf.smoke DATA_DIR` from the full files);
- KorQuAD: its licence (CC BY-ND) allows no excerpt, so a synthetic Korean QA set is generated;
- multi-label: synthetic films and their genres (genre_rows), shipped as slices in smoke_data/;
- similarity scores (search_spaces/regress.yaml's example): STS-B-like sentence pairs scored 0 to 5 by the
  words they share, generated (synthetic_similarity) and shipped as similarity_{train,test}.csv.gz;
- a tiny BERT whose WordPiece vocabulary is learnt from the slice (so Hangul is covered).
"""
import gzip
import json
import random
import sys
from pathlib import Path

from .data.columns import ColumnNames
from .data.examples import read_examples
from .data.label_values import label_order
from .data.label_names import LABEL_NAMES
from .data.splits import encode_labels
from .data.squad import read_squad, write_squad
from .models.tiny_model import build_tiny_bert
from .results_table import csv_text

SLICE_DIR = Path(__file__).resolve().parent / "smoke_data"
SLICE_SIZES = {"train": 240, "valid": 100, "test": 100}  # in this order: train's labels are the ones the others may use
# what a slice's source is called in its messages: a valid file's as in a full run (--valid_path FILE: ...)
ROLES = {"train": "train data", "valid": "valid_path", "test": "test data"}
MAX_CHARS = 400  # reviews are cut here: enough words for a tiny model, a small package
SLICE_FILES = {"imdb": {"train": "imdb_train.csv.gz", "test": "imdb_test.csv.gz"},
               "nsmc": {"train": "nsmc_train.csv.gz", "test": "nsmc_test.csv.gz"}}

PEOPLE = ["철수", "영희", "민수", "지영", "현우", "수진", "동현", "미나", "서연", "준호", "하은", "도윤"]
FRUITS = ["사과", "바나나", "포도", "딸기", "수박", "복숭아", "귤", "자두", "참외", "배"]
FILLER = ["오늘", "어제", "아침에", "시장에서", "친구와", "함께", "정말", "많이", "저녁에", "학교에서"]


def synthetic_korquad(path, n_articles: int = 4, seed: int = 0) -> str:
    """SQuAD-format Korean QA: articles of two paragraphs, each one fact 'X는 《Y》를 좋아한다.' after a
    varying number of filler words; the question 'X가 좋아하는 과일은?' has the answer Y."""
    rng = random.Random(seed)
    data = []
    for a in range(n_articles):
        paragraphs = []
        for k in range(2):
            i = a * 2 + k
            person, fruit = PEOPLE[i % len(PEOPLE)], FRUITS[(i + a) % len(FRUITS)]
            before = rng.sample(FILLER, i % 5) if seed else FILLER[:i % 5]
            after = rng.sample(FILLER, 5) if seed else FILLER[i % 3:]
            context = " ".join(before) + f" {person}는 《{fruit}》를 좋아한다. " + " ".join(after)
            paragraphs.append({"context": context, "qas": [{
                "id": f"{a}-{k}", "question": f"{person}가 좋아하는 과일은?",
                "answers": [{"text": fruit, "answer_start": context.index(f"《{fruit}》") + 1}]}]})
        data.append({"title": f"글{a}", "paragraphs": paragraphs})
    Path(path).write_text(json.dumps({"version": "synthetic", "data": data}, ensure_ascii=False), encoding="utf-8")
    return str(path)


GENRES = {"Action": ["explosion", "chase", "fight", "hero", "gun"], "Comedy": ["funny", "joke", "laugh", "silly", "prank"],
          "Drama": ["tears", "family", "grief", "loss", "letter"], "Horror": ["ghost", "scream", "blood", "dark", "monster"]}
GENRE_FILES = {"genres_train.csv.gz": (300, 1), "genres_test.csv.gz": (100, 2)}  # name: (rows, seed)
PLOT = ["the", "film", "story", "a", "night", "city", "old", "man", "woman", "town", "with", "and", "of"]


def genre_rows(n: int, seed: int = 0) -> list:
    """(text, [genres]) of synthetic film plots for multi-label runs: each film has none to three of GENRES,
    every genre of it said by two of its words among plot words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        genres = sorted(rng.sample(list(GENRES), rng.choice([0, 1, 1, 2, 2, 3])))
        words = [w for g in genres for w in rng.sample(GENRES[g], 2)] + rng.sample(PLOT, 6)
        rng.shuffle(words)
        rows.append((" ".join(words), genres))
    return rows


def write_genre_slices(target=SLICE_DIR) -> None:
    """The shipped multi-label slices (search_spaces/genres.yaml): films with one to three genres, a
    '|'-separated genres column, as gzipped CSV (seeded: the same bytes each time)."""
    for name, (size, seed) in GENRE_FILES.items():
        rows = [(text, "|".join(genres)) for text, genres in genre_rows(2 * size, seed) if genres][:size]
        (Path(target) / name).write_bytes(gzip.compress(csv_text(["text", "genres"], rows).encode(), mtime=0))


WORDS = ("a man woman child dog cat plays reads cooks rides a bike guitar book meal horse in the park kitchen "
         "garden street at night morning slowly happily").split()


def synthetic_similarity(path, n: int, seed: int) -> str:
    """An STS-B-like CSV (sentence1, sentence2, score): the second sentence keeps k of the first's five words
    and draws the others anew; its score is k, give or take 0.3, kept within 0 to 5."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        first, k = rng.sample(WORDS, 5), rng.randint(0, 5)
        second = first[:k] + rng.sample([w for w in WORDS if w not in first], 5 - k)
        rng.shuffle(second)
        rows.append((" ".join(first), " ".join(second), f"{min(5.0, max(0.0, k + rng.uniform(-0.3, 0.3))):.2f}"))
    Path(path).write_bytes(gzip.compress(csv_text(["sentence1", "sentence2", "score"], rows).encode(), mtime=0))
    return str(path)


def _balanced_rows(path, size: int, seed: int, columns: ColumnNames = ColumnNames(), role: str = "smoke data",
                   train_labels=None, dataset=None, classes: bool = True):
    """(header, rows, labels): a balanced slice, under the column names the run asks for (text[, text_pair],
    label where it names none), so that the slice reads as the full file does. With train_labels, a label
    outside them is an error naming this file (not the slice, which the user never wrote). dataset: the
    shipped data set the file is given as (its labels read, and written, as that data set's names).
    classes: False for numbers (a regression's): a seeded sample of the rows, labels None."""
    ex = read_examples(path, role, columns, dataset=dataset, classes=classes)
    if train_labels is not None:
        encode_labels(ex, train_labels, role)
    by_label = {}
    for i, label in enumerate(ex.labels if classes else [None] * len(ex)):
        by_label.setdefault(label, []).append(i)
    rng, picked = random.Random(seed), []
    for label in by_label if not classes else label_order(by_label):
        picked += rng.sample(by_label[label], min(len(by_label[label]), size // len(by_label)))
    header = [columns.text or "text"] + ([columns.pair or "text_pair"] if ex.pairs else []) + [columns.label or "label"]
    return header, [(ex.texts[i][:MAX_CHARS], *([ex.pairs[i][:MAX_CHARS]] if ex.pairs else []), ex.labels[i])
                    for i in sorted(picked)], label_order(by_label) if classes else None


def smoke_data(dataset: str, folder, seed: int, files=None, columns: ColumnNames = ColumnNames(),
               classes: bool = True) -> dict:
    """{"train"[, "valid"], "test", "model"}: a small slice of each split and a tiny BERT learnt from them,
    under `folder`.

    files: the data set's own files, or your own (a slice of each is taken, read with `columns`; of a valid
    file too, checked against train's labels as a full run checks it);
    None takes the shipped slice. classes: False where the labels are numbers (a regression)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out, texts = {}, []
    splits = [split for split in SLICE_SIZES if split != "valid" or (files and files.get("valid"))]
    if dataset == "korquad":
        synthetic = {"train": (12, seed + 1), "test": (4, seed + 2)}  # articles, seed
        for split in splits:
            if files:
                examples = read_squad(files[split], ROLES[split])[:SLICE_SIZES[split] // 2]
                out[split] = folder / f"{split}.json"
                write_squad(examples, out[split])
            else:
                out[split] = Path(synthetic_korquad(folder / f"{split}.json", *synthetic[split]))
                examples = read_squad(out[split], "smoke data")
            texts += [e.question for e in examples] + sorted({e.context for e in examples})
    else:
        train_labels = None
        for split in splits:
            source = files.get(split, files["train"]) if files else SLICE_DIR / SLICE_FILES[dataset][split]
            header, rows, labels = _balanced_rows(source, SLICE_SIZES[split], seed, columns, ROLES[split],
                                                  train_labels, dataset if dataset in LABEL_NAMES else None, classes)
            train_labels = train_labels or labels
            out[split] = folder / f"{split}.csv"
            out[split].write_text(csv_text(header, rows), encoding="utf-8")
            texts += [text for row in rows for text in row[:-1]]
    out["model"] = build_tiny_bert(folder / "tiny_bert", texts, vocab_size=800)
    return out


def write_slices(data_dir, target=SLICE_DIR) -> None:
    """Cut the shipped slices from the full IMDB and NSMC files in data_dir (seeded, balanced)."""
    from .data.datasets import lookup
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for dataset, names in SLICE_FILES.items():
        found = lookup(dataset, Path(data_dir))
        for split, name in names.items():
            header, rows, _ = _balanced_rows(found[split], SLICE_SIZES[split], seed=0, dataset=dataset)
            (target / name).write_bytes(gzip.compress(csv_text(header, rows).encode(), mtime=0))


if __name__ == "__main__":
    write_slices(sys.argv[1])

"""KorQuAD 1.0's official scores: SQuAD v1.1 exact match and F1, with KorQuAD's normalisation
(its extra quote and bracket characters) and F1 counted over characters, not words."""
import re
import string
from collections import Counter
from typing import Dict, List

_KORQUAD_SYMBOLS = re.compile("['\"《》<>〈〉()‘’]")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = _KORQUAD_SYMBOLS.sub(" ", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    return " ".join(text.split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str) -> float:
    predicted = list("".join(normalize_answer(prediction).split()))
    gold = list("".join(normalize_answer(truth).split()))
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def korquad_scores(predictions: Dict[str, str], answers: Dict[str, List[str]]) -> Dict[str, float]:
    """{"exact_match", "f1"} in percent, each the best over a question's gold answers."""
    em = total_f1 = 0.0
    for qid, truths in answers.items():
        prediction = predictions.get(qid, "")
        em += max(exact_match(prediction, t) for t in truths)
        total_f1 += max(f1(prediction, t) for t in truths)
    n = max(len(answers), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * total_f1 / n}

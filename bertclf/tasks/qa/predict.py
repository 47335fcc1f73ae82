"""QA's prediction: the answer span of new questions in their contexts by a saved model (--predict)."""
import tempfile
from typing import List

import torch

from ...errors import UserError
from .eval import predictions
from .inputs import QAInputs, windows
from ...data.squad import QAExample


def answer_questions(model, tokenizer, meta, pairs, batch_size: int = 64, device="cpu") -> List[dict]:
    """[(question, context)] -> [{"question", "answer"}] with a loaded saved QA model."""
    examples = [QAExample(str(i), q, c, [""], 0, "") for i, (q, c) in enumerate(pairs)]
    with tempfile.TemporaryDirectory(prefix="bert-hpo-qa-") as cache:
        inputs = QAInputs(windows={"ask": windows(tokenizer, examples, meta["max_length"], meta["doc_stride"], cache)},
                          examples={"ask": examples}, pad_id=tokenizer.pad_token_id or 0, description="")
    answers = predictions(model, meta, inputs, "ask", device=torch.device(device), bf16=False, batch_size=batch_size)
    return [{"question": e.question, "answer": answers[e.qid]} for e in examples]


def predict(args, model, tokenizer, meta) -> List[dict]:
    """--predict with --question and --context, one --context per --question, by the loaded model."""
    questions, contexts = args.question or [], args.context or []
    if not questions or len(questions) != len(contexts):
        raise UserError("a QA model needs --question \"...\" --context \"...\" (one --context per --question)")
    return answer_questions(model, tokenizer, meta, list(zip(questions, contexts)))


def predict_example() -> str:
    """The options of an example --predict with a QA model."""
    return '--question "a question" --context "the passage that holds the answer"'

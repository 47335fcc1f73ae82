"""Classification's inputs (bertclf/tasks/classification/inputs.py): a fold of cv_folds splits the prepared
token ids, labels and boost features of train; nothing is tokenised or encoded again."""
import numpy as np
import torch

from bertclf.tasks.classification.inputs import ClassificationInputs
from bertclf.tokenization import TokenIds
from bertclf.windows import DocumentWindows


def _ids(sequences, dtype=np.uint16) -> TokenIds:
    flat = np.concatenate([np.asarray(s, dtype=dtype) for s in sequences])
    return TokenIds(torch.from_numpy(flat), torch.tensor([len(s) for s in sequences], dtype=torch.int32))


def test_a_fold_splits_tokens_labels_and_features_of_train():
    sequences = [[101, i, i + 1, 102][: 2 + i % 3] for i in range(6)]
    features = torch.arange(12, dtype=torch.float16).reshape(6, 2)
    inputs = ClassificationInputs(label_names=["a", "b"], tokens={"train": _ids(sequences)},
                                  labels={"train": torch.tensor([0, 1, 0, 1, 0, 1])}, pad_id=0, description="",
                                  features={"train": features}, folds=[0, 1, 2, 0, 1, 2])
    fold = inputs.fold(1)
    assert fold.splits == ["train", "valid"] and fold.folds is None
    assert [fold.tokens["valid"][i].tolist() for i in range(2)] == [sequences[1], sequences[4]]
    assert [fold.tokens["train"][i].tolist() for i in range(4)] == [sequences[k] for k in (0, 2, 3, 5)]
    assert fold.labels["valid"].tolist() == [1, 0] and fold.labels["train"].tolist() == [0, 0, 1, 1]
    assert torch.equal(fold.features["valid"], features[[1, 4]])  # the features computed once, split


def test_a_fold_of_windows_keeps_each_texts_windows():
    windows = _ids([[1, 2], [3], [4, 5, 6], [7], [8, 9]])
    texts = DocumentWindows(windows, torch.tensor([2, 1, 2]))  # text 0: windows 0-1, text 1: 2, text 2: 3-4
    kept = texts.subset([2, 0])
    assert kept.counts.tolist() == [2, 2] and kept.lengths.tolist() == [3, 3]
    assert [kept.windows[i].tolist() for i in range(4)] == [[7], [8, 9], [1, 2], [3]]

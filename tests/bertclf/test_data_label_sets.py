"""A row's set of labels: a delimited cell, a list cell (or a list written as text), or 0/1 columns; each
part a label as label_values reads one, an empty cell the empty set."""
import numpy as np
import pytest

from bertclf.data.label_sets import indicator, indicator_set, label_set, listed


@pytest.mark.parametrize("cell, labels", [
    ("Action|Comedy", ("Action", "Comedy")),
    (" Action | Comedy |", ("Action", "Comedy")),  # padding and a trailing separator are no labels
    ("Comedy|Action|Comedy", ("Comedy", "Action")),  # as written, once each
    (["Action", "Comedy"], ("Action", "Comedy")),
    (np.array(["NONE", "FAVOR"], dtype=object), ("NONE", "FAVOR")),  # a Parquet list; NONE is a label
    ('["Action", "Comedy"]', ("Action", "Comedy")),  # a JSON list written in a CSV cell
    ("['Action', 'Comedy']", ("Action", "Comedy")),  # Python's
    ("1|2.0", (1, 2)),  # numbers as numbers: 2.0 and 2 are one label
    (7, (7,)),
    ("", ()), (None, ()), (float("nan"), ()), ([], ()),
])
def test_label_set_reads_each_cell_shape(cell, labels):
    assert label_set(cell, "|") == labels


def test_another_separator_leaves_the_pipe_in_a_label():
    assert label_set("a|b;c", ";") == ("a|b", "c")


def test_listed_reads_only_list_text():
    assert listed('["a", 1]') == ["a", 1] and listed("[a") is None and listed("{}") is None and listed("[1") is None


@pytest.mark.parametrize("cell, on", [(1, True), (0, False), ("1", True), ("0", False), (1.0, True), ("1.0", True),
                                      (True, True), ("false", False), ("yes", True), ("", False), (None, False),
                                      ("2", None), ("maybe", None), (0.5, None)])
def test_indicator_cells(cell, on):
    assert indicator(cell) is on


def test_indicator_set_names_its_labels_and_refuses_other_values():
    assert indicator_set([1, 0, "1"], ["toxic", "threat", "insult"]) == ("toxic", "insult")
    with pytest.raises(ValueError, match=r"column 'threat' holds '2', not 0 or 1"):
        indicator_set([1, 2, 0], ["toxic", "threat", "insult"])

"""The data layer: the shipped data sets' label names (label_names), what a label cell means (label_values), label
columns that are no single-label classes (label_shapes), texts shared between splits (leaks), tables read through
pandas/pyarrow (readers), the columns chosen (columns), every row checked (examples), texts left in their files
(file_rows), label order and splits (splits), the named data sets (datasets) and their downloads (download).
Modules import only the ones listed before them."""

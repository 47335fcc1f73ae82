"""The data layer: the shipped data sets' label names (label_names), tables read through pandas/pyarrow (readers), the columns chosen (columns), every row
checked (examples), label order and splits (splits), the named data sets (datasets) and their downloads
(download). Modules import only the ones listed before them."""

"""Public IQA data sets as one table each (path, mos, split, content); no torch here.

``open_dataset(path)`` recognises the data set in an unpacked archive (:func:`detect`) and reads
it into a :class:`Dataset`; :func:`split` gives the official or a seeded content split. One module
per data set: koniq, flive, clive, spaq, kadid, agiqa and generic (a ``path,mos`` CSV).
"""

from .registry import NAMES, READERS, detect, open_dataset, reader
from .splits import DEFAULT_FRACTIONS, content_split, split
from .table import ALL, SPLITS, BadRow, Dataset, DatasetError, Row, split_name

__all__ = [
    "open_dataset", "detect", "split", "content_split", "reader", "READERS", "NAMES", "DEFAULT_FRACTIONS",
    "Dataset", "Row", "BadRow", "DatasetError", "SPLITS", "ALL", "split_name",
]

"""Engines that score collections into results files: ``local`` (this machine) and, with the
``ray`` extra, ``ray`` (a cluster). Both write the rows of :mod:`.rows`."""

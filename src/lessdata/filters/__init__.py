"""Quality filters for text and code: rules that pass or fail a document, with the measured
values (StarCoder-style for code, Gopher-style for prose); see :mod:`lessdata.filters.quality`."""

"""Data in and out: readers and formats, the corpus and its shards, writers, the manifest,
atomic writes and the cache folder.

Nothing here knows about metrics, engines or the pipeline; every other layer builds on it.
Start with :func:`lessdata.data.dataset.load` (arrays, tables, Hugging Face folders, source
trees) and :func:`lessdata.data.corpus.read_corpus` (text corpora as Arrow batches).
"""

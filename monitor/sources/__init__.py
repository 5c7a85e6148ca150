"""The publishers: one module per source, each reading discover -> fetch -> parse -> ingest.

The list of sources and what each has is monitor/sources/registry.py.
"""

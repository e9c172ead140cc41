"""Use cases: what each command does, composed from the domain and the adapters.

The compatibility test (`compat_test`), packaging, publishing, the model owner's requests
(`requests`), the registry's own workflows (`registry`), the listings, and the dispatch
of GitHub events (`dispatch`).
"""

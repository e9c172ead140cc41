"""Adapters: one package per outside system, and nothing else speaks to it.

`docker` (the Docker Engine), `github` (GitHub's REST API), `files` (downloads, hashing,
the cache, tarballs, atomic writes), `ci` (what GitHub Actions reads from a step),
`signing` (OpenSSF model signing). They know nothing of MLCubes or registries, and none of
them imports another.
"""

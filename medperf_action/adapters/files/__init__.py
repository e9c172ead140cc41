"""The files adapter: downloads, hashing, the content-addressed cache, safe extraction,
deterministic tarballs and atomic replacement of folders."""

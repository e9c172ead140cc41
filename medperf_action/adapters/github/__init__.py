"""The GitHub adapter: the only code that uses PyGithub.

`client` connects (retries, errors), `contents` reads and commits files, `pulls` reads
pull requests and writes their labels and comments, `releases` publishes assets,
`proposals` opens one-file pull requests from a fork.
"""

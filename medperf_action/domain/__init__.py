"""The domain: what MedPerf's things are and the rules they follow.

MLCubes in both formats (`cube`), how a task becomes a container call (`invocation`),
validation with positions (`yamldoc`, `schemas`, `findings`, `validation`), the registry's
layout, files and request rules (`registry`), metrics (`metrics`). No Docker, no GitHub,
no network: the domain reads the files it is asked to check, nothing else.
"""

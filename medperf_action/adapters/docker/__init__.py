"""The Docker adapter: the only code that speaks to the Docker Engine.

`client` reaches the engine, `images` makes images present and current (build, pull,
load, save, push), `sandbox` runs one task in a locked-down container that is always
removed.
"""

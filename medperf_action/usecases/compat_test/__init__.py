"""The compatibility test (MedPerf's `test run`): the benchmark's workflow on its demo data.

`participants` resolves the four cubes, `images` makes their images current, `dataset`
fetches the demo data, `steps` runs or recalls one task, `engine` runs the whole workflow,
`report` shows and writes what came of it.
"""

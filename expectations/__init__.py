"""great-expectations suites per table and the validation runner that gates the pipeline.

`expectations.runner.validate_table` and `expectations.gate.gate` are the entry
points; the run is split into `thresholds` (bounds from other data),
`checkpoint` (great-expectations), `summary` (the result) and `publishing`
(summary JSON, `validation/index.json` and its page). Suites live in
`suites_raw`, `suites_features` and `suites_labels`, registered by table in
`registry`.
"""

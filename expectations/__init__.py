"""great-expectations suites per table and the validation runner that gates the pipeline.

`expectations.runner.validate_table` / `gate` are the entry points; suites live
in `suites_raw`, `suites_features` and `suites_labels`, registered by table in
`registry`.
"""

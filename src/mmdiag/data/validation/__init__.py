"""Checks behind `mmdiag.data.validate`, one module per file of the BYO format.

Each checker returns `Violation`s instead of raising, so one run reports every problem in a folder;
the public entry points (`validate_dataset`, `check_dataset`, `summarize`, `main`) live in
`mmdiag.data.validate`.
"""

"""Helpers shared by the tests and the benchmarks (never imported by the app or fmnist_core).

``devtools.git_state``: the working tree's ``git status --porcelain``, so a test run can prove it changed
nothing. ``devtools.browser``: Debian's Chromium, the app server on a free port, and the page-settled check
used by the browser tests, the app benchmark and the load test.
"""

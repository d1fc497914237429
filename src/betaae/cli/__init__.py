"""The command line: what `python train.py` does (`train`), what `python invert.py` does (`invert`), and how
every error and interruption becomes one line and an exit code, never a traceback (`main`).

May import: everything else in betaae. Nothing imports it but the entry points and the tests.
"""

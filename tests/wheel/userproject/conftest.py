# The project root's conftest.py: plain `pytest` puts the root on sys.path (as `python -m pytest` does).

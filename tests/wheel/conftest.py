"""tests/wheel/ is the wheel check's material (`make test-wheel`), not part of our suite: the user project under
userproject/ has its own `api` and `pricing` packages and runs in its own virtual environment."""

collect_ignore = ["userproject"]

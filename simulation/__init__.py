"""The synthetic search world that fills raw/ for tests and the demo (`searchrel simulate`)."""

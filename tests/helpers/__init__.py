"""Plain helpers shared by the tests (no fixtures, no tests): import each by name from its module."""

"""Real servers for the Level 2-4 tests, on 127.0.0.1 with ports chosen at run time."""

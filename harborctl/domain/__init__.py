"""Pure domain: no I/O. Clocks and random sources are passed in."""

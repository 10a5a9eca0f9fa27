"""WSGI applications the benchmarks serve with every WSGI server alike."""

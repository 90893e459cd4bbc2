"""A simulated cluster: a real HTTPS server speaking the Kubernetes API, driven by scenario YAML.

`gate.sim.server.start()` is the entry point for tests and the demo; `gate sim serve` for humans.
"""

"""Cluster access: the raw Kubernetes client and per-round view, answer shape checks, resources, RBAC."""

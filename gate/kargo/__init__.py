"""Kargo: read Stages, Freight and Promotions, check P1, promote through the Kargo API, follow it.

Reading goes through the Kargo REST API (`/v1beta1`) when an address and token are configured, else
through the Kubernetes API (read-only). Promotions are only ever created through the Kargo API (REST,
or Connect on servers older than v1.9) or an installed `kargo` CLI: never through Kubernetes.
"""

"""The controller: ingests pressure, watches Kubernetes, decides and powers machines."""

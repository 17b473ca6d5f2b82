"""Data shipped with the controller: CRDs and manifests, as YAML (no code)."""

"""Everything the controller does in Kubernetes, over plain JSON.

The facade, one noun per module (details and signatures in docs/kubernetes.md):
``client`` (the only kubernetes-asyncio user), ``errors`` (KubeError with
``retriable``), ``watching`` (Informer: cached list+watch, 410 relist, backoff),
``pending`` and ``scheduling`` (pending pods by pool, summed requests, batch window),
``resources`` (BareMetalNode / NodePool status, Secrets, Events), ``nodes``,
``joining`` (power-on to Ready and labelled), ``draining`` (PDB-aware eviction),
``leader`` (Lease election).
"""

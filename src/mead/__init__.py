"""MEAD: a federated coalition air-defence early-warning network.

The data flow is sense → track → share → fuse → assess → act/show; see
``docs/architecture.md`` for how the subpackages implement it.
"""

__version__ = "0.1.0"

"""The operator's picture: a live map per node (HTTP + WebSocket) and replays of recorded runs.

``view`` keeps what a node holds for its map, ``app`` serves it (FastAPI), ``serve`` runs it
beside the node, ``replay`` records runs and plays them back; the page is in ``web/``.
"""

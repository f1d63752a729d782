"""The CI side of the exchange: `mintgate exchange` and `mintgate token inspect`.

It speaks the PyPI-compatible wire protocol only, so it works against any
service that does, and it never imports the server's app or settings.
"""

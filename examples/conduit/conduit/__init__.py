"""Conduit: the RealWorld API (``openapi.yml``) on FastAPI and asqla.

Start at ``main.create_app()``; ``docs/conduit.md`` reads the package file by file.
"""

"""What test modules share: the one session world, and helpers that exist only for tests.

Test modules import from here, never from each other (tests/unit/test_architecture.py checks it). Nothing here is
shipped: production code must not need any of it.
"""

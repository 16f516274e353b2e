"""QEMU boots of Exo for the test harness (tests/harness.py) and the bench runner."""

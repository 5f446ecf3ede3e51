"""Probes: each module observes one step of the path kubectl takes. See probes/base.py."""

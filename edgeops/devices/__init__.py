"""Devices: profiles, the inventory, leases, scheduling, sessions and the probe."""

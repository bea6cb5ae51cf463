"""What the Apple backends (Core ML and Core AI) share: the roofline arithmetic their
predictions of latency and memory use (``roofline``).

A helper package, not a plugin: it registers no hooks and has no entry point. Like a
plugin it imports only the declared API (``edgeops``, ``edgeops.plugin``,
``edgeops.hookspecs``), so the core neither holds nor knows it.
"""

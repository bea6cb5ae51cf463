"""What the backends that convert through a PyTorch module share (Core ML, Core AI and
ExecuTorch): a source as a torch module (``torch_sources``) and the build record kept
beside each converted model (``build_info``). The ONNX and TFLite backends take a
PyTorch factory's module from it too (``torch_sources.factory_module``).

A helper package, not a plugin: it registers no hooks and has no entry point. Like a
plugin it imports only the declared API (``edgeops``, ``edgeops.plugin``,
``edgeops.hookspecs``), so the core neither holds nor knows it.
"""

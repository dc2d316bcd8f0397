"""Operating HarborHook: the local stack (native supervisor), rendering generated files."""

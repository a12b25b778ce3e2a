"""Generated skeleton modules of the tools (``make tools`` writes them)."""

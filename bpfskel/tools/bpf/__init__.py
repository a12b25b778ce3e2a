"""Generated skeleton modules of the tools: the wheel build (the hatch hook)
or ``make tools`` writes them; never committed."""

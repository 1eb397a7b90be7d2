"""suanli: how LLMs run on accelerators you may not own, and what that costs."""

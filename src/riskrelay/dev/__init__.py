"""The local stack (``riskrelay dev``) and its demo traffic."""

"""The chat side: message types, the dispatcher, handlers, NLU, channels and HTTP routes."""

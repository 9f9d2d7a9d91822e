"""One adapter per chat platform. The web chat is ours and is also the demo and test channel."""

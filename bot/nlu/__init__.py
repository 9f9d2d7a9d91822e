"""Natural-language understanding: the port, the Rasa client, the keyword rules and their composition."""

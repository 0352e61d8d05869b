"""What a signed-in customer sees of everything the service holds about them, and its JSON download."""

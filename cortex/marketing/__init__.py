"""marketing: subscribers (double opt-in), templates, campaigns, sending, unsubscribe."""

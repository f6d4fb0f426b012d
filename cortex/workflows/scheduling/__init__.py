"""Appointment scheduling: a bot's booking rules, free slots across its calendars, and bookings
that the database never lets overlap."""

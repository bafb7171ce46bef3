"""Business calendars: working hours, public holidays and response-due times per site."""

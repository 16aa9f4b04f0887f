"""Google OAuth and the Gmail API."""

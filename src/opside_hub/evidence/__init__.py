"""The evidence service (refund engine API) and its service JWTs."""

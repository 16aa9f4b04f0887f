"""Amazon Seller Central / SP-API."""

"""User authentication (JWT) and provisioning."""

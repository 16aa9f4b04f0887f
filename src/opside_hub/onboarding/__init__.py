"""Silent onboarding: a Stripe Connect Express account opened for each seller."""

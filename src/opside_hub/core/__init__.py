"""Platform pieces every domain uses: errors, logging, Redis, the queue, HTTP middleware."""

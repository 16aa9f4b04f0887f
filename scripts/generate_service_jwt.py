"""Print a service JWT for the evidence API (PYTHON_API_JWT_SECRET from the env or `.env`).

python scripts/generate_service_jwt.py --user-id USER --email a@b.c --ttl-minutes 5
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from opside_hub.config import EvidenceSettings
from opside_hub.evidence.exceptions import EvidenceNotConfigured
from opside_hub.evidence.service import mint_service_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--email", default="")
    parser.add_argument("--ttl-minutes", type=float, default=None)
    args = parser.parse_args(argv)
    ttl = timedelta(minutes=args.ttl_minutes) if args.ttl_minutes is not None else None
    try:
        token = mint_service_token(
            EvidenceSettings(), user_id=args.user_id, email=args.email, ttl=ttl
        )
    except EvidenceNotConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m energy_orchestration.standin``: run the stand-in without the package CLI."""

from __future__ import annotations

import argparse
import logging

from . import StandinConfig, serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Energi Data Service stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rate-limit-per-minute", type=float, default=1.0, help="0 disables")
    parser.add_argument("--publication-lag-seconds", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    serve_forever(
        StandinConfig(
            host=args.host,
            port=args.port,
            rate_limit_per_minute=args.rate_limit_per_minute,
            publication_lag_seconds=args.publication_lag_seconds,
        )
    )


if __name__ == "__main__":
    main()

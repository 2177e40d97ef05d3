"""The command line the probe and benchmark scripts share: the service's URL, repeatable
NAME:VALUE headers (say, an API key), numbers above zero and comma-separated lists of them."""

from __future__ import annotations

import argparse


def header(value: str) -> tuple[str, str]:
    """argparse type of --header: NAME:VALUE."""
    name, colon, content = value.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME:VALUE (e.g. X-API-Key:KEY)")
    return name.strip(), content.strip()


def positive(kind):
    """argparse type: a number of `kind` above zero."""
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{value} must be above zero")
        return number
    return parse


def non_negative_int(value: str) -> int:
    """argparse type: a whole number of zero or more (0 often means `automatic`)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return number


def listed(item):
    """argparse type: a comma-separated list, each element parsed by the argparse type `item`."""
    def parse(value: str) -> list:
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{value!r} has an empty element (write e.g. 1,4,16)")
        return [item(part) for part in parts]
    return parse


def probe_parser(description: str) -> argparse.ArgumentParser:
    """A parser with --url (required) and --header; each probe adds its own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="base URL of the running service")
    parser.add_argument("--header", type=header, action="append", default=[],
                        help="NAME:VALUE sent with every request, e.g. X-API-Key:KEY (repeatable)")
    return parser

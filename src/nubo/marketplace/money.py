"""Money: integer minor units inside, a decimal string and an ISO 4217 code outside.

No float ever touches an amount: strings are parsed with `Decimal`, amounts are `int`.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

DEFAULT_CURRENCY = "BRL"

# ISO 4217 minor-unit exponents; currencies not listed here use 2.
_EXPONENTS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}
# The currencies the platform accepts (ISO 4217 active codes in common use).
CURRENCIES = frozenset(
    [
        "AED",
        "ARS",
        "AUD",
        "BHD",
        "BIF",
        "BOB",
        "BRL",
        "CAD",
        "CHF",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "EGP",
        "EUR",
        "GBP",
        "GNF",
        "GTQ",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "ISK",
        "JOD",
        "JPY",
        "KES",
        "KMF",
        "KRW",
        "KWD",
        "LYD",
        "MXN",
        "MYR",
        "NGN",
        "NOK",
        "NZD",
        "OMR",
        "PEN",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TND",
        "TRY",
        "TWD",
        "UAH",
        "UGX",
        "USD",
        "UYI",
        "UYU",
        "UYW",
        "VES",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
        "ZAR",
    ]
)
# ASCII digits only: `\d` would also take Arabic-Indic and other Unicode digits.
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?", re.ASCII)
HOW_TO_SEND = 'send money as a decimal string, e.g. "49.95"'


class MoneyError(ValueError):
    """An amount or a currency that cannot be used."""


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise MoneyError(f"{value!r} is not a supported ISO 4217 currency code")
    return code


def parse_decimal(value: str) -> Decimal:
    """A non-negative plain decimal string (`10`, `10.5`, `10.50`), nothing else.

    No JSON numbers (a float has already lost precision, and `true` is not an amount), no
    signs, exponents, spaces or non-ASCII digits.
    """
    if not isinstance(value, str):
        raise MoneyError(f"{HOW_TO_SEND}, not a JSON {_json_kind(value)}")
    if not _DECIMAL.fullmatch(value):
        raise MoneyError(f"{value!r} is not a plain non-negative amount; {HOW_TO_SEND}")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already checked
        raise MoneyError(f"{value!r} is not a decimal amount") from exc


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float | Decimal) else type(value).__name__


def to_minor(amount: str | Decimal, currency: str) -> int:
    """`"10.5"` BRL -> 1050. More decimals than the currency has is an error, not a rounding."""
    value = parse_decimal(amount) if not isinstance(amount, Decimal) else amount
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(
            f"{amount} has more decimals than {currency} allows ({exponent(currency)})"
        )
    return int(scaled)


def to_minor_or_none(amount: Decimal, currency: str) -> int | None:
    try:
        return to_minor(amount, currency)
    except MoneyError:
        return None


def format_minor(amount_minor: int, currency: str) -> str:
    """1050 BRL -> "10.50"."""
    exp = exponent(currency)
    return str(Decimal(amount_minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp)))


def round_fraction(value: Fraction) -> int:
    """Round half away from zero to an integer number of minor units."""
    return int(
        (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def format_fraction(value: Fraction, places: int = 6) -> str:
    quantum = Decimal(1).scaleb(-places)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    text = str(exact.quantize(quantum, rounding=ROUND_HALF_UP))
    return text.rstrip("0").rstrip(".") if "." in text else text

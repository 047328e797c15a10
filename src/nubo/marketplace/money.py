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
_DECIMAL = re.compile(r"^\d{1,15}(\.\d{1,6})?$")


class MoneyError(ValueError):
    """An amount or a currency that cannot be used."""


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise MoneyError(f"{value!r} is not a supported ISO 4217 currency code")
    return code


def parse_decimal(value: str | int | Decimal) -> Decimal:
    """A non-negative plain decimal (`10`, `10.5`, `10.50`); no exponents, signs or floats."""
    if isinstance(value, (bool, float)):
        raise MoneyError("amounts are decimal strings, not floats")
    text = str(value).strip()
    if not _DECIMAL.match(text):
        raise MoneyError(f"{value!r} is not a non-negative decimal amount")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already checked
        raise MoneyError(f"{value!r} is not a decimal amount") from exc


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """`"10.5"` BRL -> 1050. More decimals than the currency has is an error, not a rounding."""
    value = parse_decimal(amount) if not isinstance(amount, Decimal) else amount
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount} has more decimals than {currency} allows")
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

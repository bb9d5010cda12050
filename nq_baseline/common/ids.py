"""NQ example ids are signed 64-bit integers (records hold them as int64)."""

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def wrap_int64(value: int) -> int:
    """`value` wrapped into the signed 64-bit range (two's complement)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= (1 << 63) else value


def in_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX

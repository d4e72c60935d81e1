"""Benchmark settings given as text on the command line (`optiinfra bench ...`), parsed."""


def parse_fractions(text: str) -> tuple[float, ...]:
    """Comma-separated fractions in (0, 1], each a decimal or a/b: "0.1,1/3,1" -> (0.1, 0.333..., 1.0).
    A ValueError names the part that is not one."""
    values = []
    for part in (piece.strip() for piece in text.split(",")):
        numerator, slash, denominator = part.partition("/")
        try:
            value = float(numerator) / float(denominator) if slash else float(part)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{part!r} is not a fraction") from None
        if not 0 < value <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {part}")
        values.append(value)
    return tuple(values)


def parse_names(text: str) -> tuple[str, ...]:
    """Comma-separated names, blanks dropped: "lru, arc," -> ("lru", "arc")."""
    return tuple(name.strip() for name in text.split(",") if name.strip())

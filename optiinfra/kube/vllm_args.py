"""Reading and editing vLLM command-line arguments as a container's `args` list.

vLLM's parser accepts `--flag value` and `--flag=value`, and spells every flag with dashes or
underscores alike (`--max-num-seqs` is `--max_num_seqs`), so flags are compared in a normal form.
A flag followed by another `--flag` (or by nothing) is a switch: its value reads as "". When a flag
appears more than once the last one wins, as with argparse."""

from collections.abc import Sequence


def normalize_flag(flag: str) -> str:
    """`--max_num_seqs`, `max-num-seqs` and `--max-num-seqs` all give `max-num-seqs`."""
    return flag.lstrip("-").replace("_", "-")


def _token_flag(token: str) -> str | None:
    """The normal form of the flag this token names, None when it is a value."""
    if not token.startswith("--") or token == "--":
        return None
    return normalize_flag(token.split("=", 1)[0])


def _takes_next(args: Sequence[str], index: int) -> bool:
    """Whether the token after the flag at `index` is that flag's value."""
    token = args[index]
    if "=" in token:
        return False
    return index + 1 < len(args) and _token_flag(args[index + 1]) is None


def _occurrences(args: Sequence[str], flag: str) -> list[int]:
    wanted = normalize_flag(flag)
    return [i for i, token in enumerate(args) if _token_flag(token) == wanted]


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The flag's value; "" for a switch given without one; None when absent."""
    found = _occurrences(args, flag)
    if not found:
        return None
    index = found[-1]
    token = args[index]
    if "=" in token:
        return token.split("=", 1)[1]
    return args[index + 1] if _takes_next(args, index) else ""


def positive_int_flag(args: Sequence[str], flag: str) -> int | None:
    """The flag's value as a positive integer; None when absent, not an integer or not positive."""
    value = flag_value(args, flag)
    if not value:
        return None
    try:
        parsed = int(value)
    except ValueError:
        return None
    return parsed if parsed > 0 else None


def with_flag(args: Sequence[str], flag: str, value: str | int | float) -> list[str]:
    """A copy with the flag set to `value`: the first occurrence keeps its spelling, form and position
    (later duplicates are dropped so the result is unambiguous); absent, `--flag value` is appended."""
    text = str(value)
    found = _occurrences(args, flag)
    if not found:
        return [*args, f"--{normalize_flag(flag)}", text]
    index = found[0]
    token = args[index]
    head = list(args[:index])
    if "=" in token:
        return [*head, f"{token.split('=', 1)[0]}={text}", *without_flag(args[index + 1 :], flag)]
    tail = args[index + 2 :] if _takes_next(args, index) else args[index + 1 :]
    return [*head, token, text, *without_flag(tail, flag)]


def without_flag(args: Sequence[str], flag: str) -> list[str]:
    """A copy with every occurrence of the flag, and its value, removed."""
    result: list[str] = []
    wanted = normalize_flag(flag)
    skip_value = False
    for index, token in enumerate(args):
        if skip_value:
            skip_value = False
            continue
        if _token_flag(token) == wanted:
            skip_value = _takes_next(args, index)
            continue
        result.append(token)
    return result


def parse_flags(args: Sequence[str]) -> dict[str, str]:
    """Every flag (normal form) with its effective value; positional tokens are left out."""
    flags: dict[str, str] = {}
    for index, token in enumerate(args):
        name = _token_flag(token)
        if name is None:
            continue
        if "=" in token:
            flags[name] = token.split("=", 1)[1]
        else:
            flags[name] = args[index + 1] if _takes_next(args, index) else ""
    return flags


def describe_change(before: Sequence[str], after: Sequence[str]) -> str:
    """A short account of what differs, e.g. "--max-num-seqs 256 -> 128, --enforce-eager added"."""
    old, new = parse_flags(before), parse_flags(after)
    parts: list[str] = []
    for name in [*old, *(n for n in new if n not in old)]:
        if name not in new:
            parts.append(f"--{name} removed")
        elif name not in old:
            parts.append(f"--{name} {new[name]} added" if new[name] else f"--{name} added")
        elif old[name] != new[name]:
            parts.append(f"--{name} {old[name] or '(set)'} -> {new[name] or '(set)'}")
    if not parts and list(before) != list(after):
        parts.append("arguments reordered or positional arguments changed")
    return ", ".join(parts) if parts else "no change"

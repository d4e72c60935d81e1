"""The command-line flags of the vLLM in this environment, as its OpenAI server's parser defines them:
run in the real environment (`.venv-real/bin/python tests/real/vllm_flags.py`) to write the list the
launch check ships (`optiinfra/capacity/data/vllm_flags.txt`); the real tier checks the two agree."""

from __future__ import annotations

import sys


def vllm_flags() -> tuple[str, list[str]]:
    """vLLM's version and its flags, sorted, with dashes."""
    import vllm
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser())
    flags = {
        option.lstrip("-").replace("_", "-")
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    }
    return str(vllm.__version__), sorted(flags)


if __name__ == "__main__":
    version, flags = vllm_flags()
    sys.stdout.write(f"# vLLM {version}\n" + "".join(f"{flag}\n" for flag in flags))

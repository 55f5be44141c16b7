"""Minimal pass-through proxies on alternative Python stacks, measured by ``bench/run.py --stacks``."""

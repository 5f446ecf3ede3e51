"""Errors that end a run with exit status 2 and one line on stderr."""


class KubereachError(Exception):
    """Bad input or usage. The message is one line, safe to print (no secrets)."""


class KubeconfigError(KubereachError):
    pass


class UsageError(KubereachError):
    pass


class InventoryError(KubereachError):
    pass

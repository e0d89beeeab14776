"""The exceptions podslo raises on purpose.

PodsloError                 base: a message meant for the user
├── ConfigError             bad DSN, option or environment
├── RuleError               a rule file failed validation (file, line, field)
├── StoreError              the store cannot be opened or migrated
├── ListenError             an address to listen on cannot be had
└── NotFound                a pod, node or cluster the user named does not exist
"""


class PodsloError(Exception):
    """Base class: str(error) is shown to the user as it is."""


class ConfigError(PodsloError):
    pass


class RuleError(PodsloError):
    pass


class StoreError(PodsloError):
    pass


class ListenError(PodsloError, OSError):
    pass


class NotFound(PodsloError):
    pass

"""The one exception the domain raises when a user asked for something it cannot do."""

from typing import Any


class UserError(Exception):
    """A problem to tell the user about: the template that explains it and its context."""

    def __init__(self, template: str, **context: Any) -> None:
        super().__init__(f"{template}: {context}")
        self.template = template
        self.context = context

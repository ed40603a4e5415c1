"""Base model shared by every API type: camelCase field names and strict unknown-field checks."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A Kubernetes-style object part: camelCase in YAML, snake_case in Python.

    Unknown fields are rejected, because a misspelt option that is silently dropped
    would make a benchmark measure something other than what the user asked for.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def to_dict(self) -> dict:
        """Serialise with camelCase keys and without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

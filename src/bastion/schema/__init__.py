"""Design types compiled into msgspec types, string formats, and the every-field validator."""

from bastion.schema.compile import TypeCompiler, py_name
from bastion.schema.validate import Collector, FieldError

__all__ = ["Collector", "FieldError", "TypeCompiler", "py_name"]

"""Instruction and completion generators built on ``judge`` backends."""

__all__: list[str] = []

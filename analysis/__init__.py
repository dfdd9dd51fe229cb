"""Agreement, bias, comparison, pair building, filters and reports over judge outputs."""

__all__: list[str] = []

"""Offline HTML reports: shared page shell, number formats and the inlined chart code."""

"""Offline tools around the node: bag evaluation (run, compare, report), the node benchmark, the demo."""

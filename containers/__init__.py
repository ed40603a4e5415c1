"""Metric collectors: the code that runs in each metric container, and in local mode.

``common`` holds what every collector shares (finding the application, the sampling
loop, writing samples); ``catalog`` holds one module per metric.
"""

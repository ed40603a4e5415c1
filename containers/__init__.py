"""Metric collectors: the code that runs in each metric container, and in local mode.

``common`` contains what every collector shares (finding the application, the sampling
loop, writing samples), and ``catalog`` contains one module per metric.
"""

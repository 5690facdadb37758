"""Benchmarks behind ``xil bench``. They measure and print; nothing here asserts a number.

``decoy`` needs no database or Streamlit (it runs on a bare GPU machine); ``latency`` uses the
services for its save-and-next measurement only.
"""

"""Tests of the partner toolkit."""

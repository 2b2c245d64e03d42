"""Goa's cellar example, ported: result types and views, typed errors, MapParams, Files."""

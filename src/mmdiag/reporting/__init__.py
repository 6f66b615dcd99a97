"""Reporting: paper tables, figures and the HTML report, built from run outputs only."""

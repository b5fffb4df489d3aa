"""Centos: poems composed from public-domain lines of the Gutenberg Poetry Corpus."""

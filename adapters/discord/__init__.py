"""The Discord adapter: slash commands built from the catalogue, buttons that survive a
restart, and results delivered by editing the deferred reply (discord.py)."""

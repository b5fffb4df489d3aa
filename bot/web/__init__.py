"""The web gallery and challenge archive (`atelier web`): pages over aiohttp and Jinja2,
reached through signed links (`links`), reading the community stores (`views`)."""

"""Community features: challenges, collab poems, the gallery, styles, brainstorms, announcements."""

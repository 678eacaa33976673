"""omnicloud: one toolkit for people who run on more than one cloud."""

"""Why shoppers leave: evidence per abandoned unit, cause tables, exposure and drivers."""

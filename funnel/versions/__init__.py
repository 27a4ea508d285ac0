"""Two funnel versions compared step by step: the statistics and the comparison tables."""

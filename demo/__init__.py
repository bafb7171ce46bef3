"""Demo data: a believable fleet for trying the portal, and a large one for benchmarks."""
